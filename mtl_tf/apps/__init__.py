"""The apps layer: the only place that defines and reads absl flags.

One module per console script -- ``train`` (mtl-train), ``transfer`` (mtl-transfer), ``report``
(mtl-report), ``data`` (mtl-data) -- plus the flag definitions they share, one module per help
group (``data_flags``, ``model_flags``, ``objective_flags``, ``training_flags``, ``output_flags``:
``mtl-train --help`` lists them in that order), and ``config``: the one function turning parsed
flags into the keyword arguments and objects of the library (``config.from_flags``).

Every flag's default is read from the library declaration it configures (a registry's
``OPTIONS``, a constructor's signature, ``TrainConfig``), so a default lives in one place. The
library (``mtl_tf.models``, ``mtl_tf.data``, ...) imports nothing from here and parses no flag.
Importing ``mtl_tf.apps`` itself defines no flag.
"""
