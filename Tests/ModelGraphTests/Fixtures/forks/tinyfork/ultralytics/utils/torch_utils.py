from copy import deepcopy

import torch


def get_flops(model, imgsz=640):
    """GFLOPs at imgsz: thop's count at one stride-sized input, scaled by area (as the forks' model.info() does)."""
    try:
        import thop
    except ImportError:
        return 0.0
    p = next(model.parameters())
    stride = max(int(model.stride.max()), 32) if hasattr(model, "stride") else 32
    im = torch.empty((1, p.shape[1], stride, stride), device=p.device)
    flops = thop.profile(deepcopy(model), inputs=[im], verbose=False)[0] / 1e9 * 2
    imgsz = imgsz if isinstance(imgsz, list) else [imgsz, imgsz]
    return flops * imgsz[0] / stride * imgsz[1] / stride
