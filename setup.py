from setuptools import find_packages, setup

setup(
    name="mtl_tf",
    version="0.1.0",
    description="A Keras/TensorFlow toolkit that teaches and runs multi-task learning.",
    python_requires=">=3.10",
    package_data={"mtl_tf.grading": ["templates/*"]},
    include_package_data=True,
    packages=find_packages(include=["mtl_tf", "mtl_tf.*", "solutions", "homework"]),
    install_requires=["tensorflow>=2.16", "tensorflow-datasets", "tensorboard", "numpy", "absl-py"],
    extras_require={"test": ["pytest", "pytest-timeout", "pytest-xdist"], "plots": ["matplotlib"], "parquet": ["pyarrow"]},
    entry_points={"console_scripts": [
        # mtl_tf.entry quiets TensorFlow's start-up lines before the tool (and TensorFlow) is imported
        "mtl-train=mtl_tf.entry:train",
        "mtl-assign=mtl_tf.entry:assign",
        "mtl-grade=mtl_tf.entry:grade",
        "mtl-data=mtl_tf.entry:data",
        "mtl-transfer=mtl_tf.entry:transfer",
        "mtl-report=mtl_tf.entry:report",
    ]},
)
