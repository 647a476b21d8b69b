"""The fast kernels that LeNet runs on, kept apart from the textbook layers of
:mod:`adaptive_lr.nn` (as cs231n keeps ``fast_layers.py`` beside ``layers.py``).

* :mod:`.conv_rows`: convolution by kernel rows on batch-last images (C, H, W, N);
* :mod:`.unfold`: the width unfolding it multiplies, and its adjoint;
* :mod:`.pool`: 2x2 max pooling fused with ReLU, batch-last;
* :mod:`.chunks`: a batch in chunks of examples, on worker threads, and the heap setting that
  keeps large temporaries from being page-faulted every step.

Each kernel is tested against the textbook layer it replaces (``tests/fast``; the layer contract
of ``tests/nn/test_layer_contract.py`` covers both kinds), and LeNet built from either gives the
same loss and gradient to rounding (``tests/test_lenet_textbook.py``); the textbook ones are the
ones to read first.
"""
