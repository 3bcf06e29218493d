import numpy as np

import adamlib


def test_first_adam_step_moves_every_weight_by_lr(dtype):
    # With bias correction and ε ≪ |g|, Adam's first step is exactly lr·sign(g).
    w = np.zeros(5, dtype=dtype)
    opt = adamlib.Adam([w], lr=0.1)
    opt.step([np.array([3.0, -2.0, 1e-2, -1e3, 0.5], dtype=dtype)])
    assert w.dtype == dtype
    np.testing.assert_allclose(w, [-0.1, 0.1, -0.1, 0.1, -0.1], rtol=1e-5)
