"""GradNorm raises the whole target to alpha, (mean G * r) ** alpha."""

TARGETS = ['tests/test_objectives.py::test_gradnorm_loss_hand_computed_and_not_the_known_bug']


def gradnorm_loss(weights, grad_norms, losses, initial_losses, present, alpha=1.5):
    count = tf.maximum(tf.reduce_sum(tf.cast(present, tf.float32)), 1.0)
    zeros = tf.zeros_like(losses)
    g = weights * grad_norms
    mean_g = tf.reduce_sum(tf.where(present, g, zeros)) / count
    ratio = tf.where(present, losses / initial_losses, zeros)
    r = ratio / (tf.reduce_sum(ratio) / count)
    target = tf.stop_gradient(tf.pow(mean_g * tf.where(present, r, 1.0), alpha))
    return tf.reduce_sum(tf.where(present, tf.abs(g - target), zeros))
