"""python -m mtl_tf.report: the mtl-report app."""

from mtl_tf.apps.report import run

if __name__ == "__main__":
    run()
