"""Procedural multi-label images: one shape per image, one classification task per attribute.

Multi-label learning (slide 6): every task sees the same images (same p(x)) and every label
is present. Each image is ``image_size`` x ``image_size`` RGB float32 in [0, 1], drawn with
numpy: a flat background colour, one filled shape of a given colour and size centred in one
of the four quadrants (with jitter), plus a little pixel noise.

Tasks (all multiclass, labels are indices into the tuples below):
``shape`` (square, circle, triangle), ``colour`` (``COLOURS``), ``size`` (small, large),
``position`` (quadrant: top-left, top-right, bottom-left, bottom-right),
``background`` (``BACKGROUNDS``). Shape colours are bright and backgrounds dark, so every
attribute can be read off the pixels.
"""

import numpy as np

from mtl_tf.data.base import MultiTaskData, Split, split_indices
from mtl_tf.options import parameter_default
from mtl_tf.tasks import Task

SHAPES = ("square", "circle", "triangle")
COLOURS = {"red": (1.0, 0.1, 0.1), "green": (0.1, 0.9, 0.1), "blue": (0.2, 0.4, 1.0),
           "yellow": (1.0, 0.95, 0.1), "magenta": (1.0, 0.2, 1.0), "cyan": (0.1, 1.0, 1.0)}
SIZES = ("small", "large")
QUADRANTS = ("top_left", "top_right", "bottom_left", "bottom_right")
BACKGROUNDS = {"black": (0.0, 0.0, 0.0), "grey": (0.4, 0.4, 0.4), "navy": (0.05, 0.05, 0.35),
               "brown": (0.35, 0.2, 0.05)}
ATTRIBUTES = {"shape": SHAPES, "colour": tuple(COLOURS), "size": SIZES, "position": QUADRANTS,
              "background": tuple(BACKGROUNDS)}
# half-width of a shape, as a fraction of the quadrant's side
_HALF_WIDTH = {"small": 0.28, "large": 0.45}


def draw(shape: int, colour: int, size: int, position: int, background: int, image_size: int = 16,
         jitter=(0.0, 0.0), noise: float = 0.0, rng=None) -> np.ndarray:
    """One image [image_size, image_size, 3] float32 in [0, 1] with the given attribute ids.

    ``jitter`` in [-1, 1]^2 moves the centre within the room the quadrant leaves; the centre
    is then snapped to a pixel centre.
    """
    q = image_size / 2.0
    half = _HALF_WIDTH[SIZES[size]] * q
    room = max(q / 2.0 - half - 0.5, 0.0)
    row, col = divmod(position, 2)
    # centres snap to pixel centres so that a shape is drawn symmetrically at any size
    cy = np.floor((row + 0.5) * q + jitter[0] * room) + 0.5
    cx = np.floor((col + 0.5) * q + jitter[1] * room) + 0.5
    yy, xx = np.mgrid[0:image_size, 0:image_size] + 0.5
    dy, dx = yy - cy, xx - cx
    name = SHAPES[shape]
    if name == "square":
        inside = (np.abs(dy) <= half) & (np.abs(dx) <= half)
    elif name == "circle":
        inside = dy ** 2 + dx ** 2 <= half ** 2
    else:  # triangle, apex up: the width grows linearly from the top edge to the base
        inside = (np.abs(dy) <= half) & (np.abs(dx) <= (dy + half) / 2.0)
    image = np.empty((image_size, image_size, 3))
    image[:] = list(BACKGROUNDS.values())[background]
    image[inside] = list(COLOURS.values())[colour]
    if noise:
        image += (rng or np.random.default_rng(0)).normal(0, noise, image.shape)
    return np.clip(image, 0.0, 1.0).astype(np.float32)


def make_images(num_examples: int = 12000, image_size: int = 16, noise: float = 0.03,
                seed: int = 0) -> MultiTaskData:
    """Generate ``num_examples`` images with independent uniform attributes, split 80/10/10."""
    if image_size % 4 or image_size < 16:
        raise ValueError(f"image_size must be a multiple of 4 and >= 16, got {image_size}.")
    rng = np.random.default_rng(seed)
    attrs = {a: rng.integers(len(values), size=num_examples) for a, values in ATTRIBUTES.items()}
    jitter = rng.uniform(-1, 1, (num_examples, 2))
    x = np.stack([draw(*(int(attrs[a][i]) for a in ATTRIBUTES), image_size=image_size, jitter=jitter[i])
                  for i in range(num_examples)])
    x = np.clip(x + rng.normal(0, noise, x.shape), 0.0, 1.0).astype(np.float32)
    tasks = [Task(a, "multiclass", num_classes=len(values)) for a, values in ATTRIBUTES.items()]
    whole = Split({"x": x}, {a: v.astype(np.int32) for a, v in attrs.items()},
                  {a: np.ones(num_examples, np.float32) for a in ATTRIBUTES})
    tr, va, te = split_indices(num_examples, seed=seed)
    return MultiTaskData("images", tasks, whole.take(tr), whole.take(va), whole.take(te),
                         description=f"procedural {image_size}x{image_size} RGB shapes, one task per attribute "
                                     f"({', '.join(ATTRIBUTES)})")


OPTIONS = {"num_examples": parameter_default(make_images, "num_examples"),
           "image_size": parameter_default(make_images, "image_size")}


def load(fv, seed: int) -> MultiTaskData:
    """The ``--dataset=images`` source; ``fv`` has the attributes of ``OPTIONS``."""
    return make_images(num_examples=fv.num_examples, image_size=fv.image_size, seed=seed)
