"""Makes an untrained checkpoint with a fork's own code, for fork-mode predict checks of heads the
demo's synthetic set cannot train (segment, pose, OBB, classify):

    REFENV/bin/python scripts/make-fork-checkpoint.py FORK MODEL.yaml OUT.pt [--scale n] [--seed 0] [--class-bias B] [--class-gain G] [--mask-bias M] [--box-bin K]

Re-runs itself with the fork's `ultralytics` first on the path, builds MODEL.yaml with the fork's
`YOLO(...)`, gives every BatchNorm seeded affine weights and running statistics (as
../shared/reference/fork_oracle.py does: an untrained net's features are otherwise nearly flat) and the class branch's last bias
`--class-bias` (default 0: scores spread around 0.5 instead of Ultralytics' ~1e-4 prior, so an
untrained head predicts at the default threshold) and its weights × `--class-gain` (default 1;
larger spreads the scores, so that few tie), a segment head's mask coefficients the bias `--mask-bias`
(so that its masks are not all empty), each box side's DFL distribution a peak at bin `--box-bin` (boxes
of a few strides rather than a few pixels), and saves it with the fork's `model.save` —
a checkpoint whose pickle names the fork's classes.
"""
import os, sys

from reference_support import numpy2_shim, rerun_under_fork


def main():
    args = sys.argv[1:]
    option = lambda name, default: args[args.index(name) + 1] if name in args else default
    fork, config, out = os.path.abspath(args[0]), os.path.abspath(args[1]), os.path.abspath(args[2])
    if not os.environ.get("MAKE_FORK_CHECKPOINT_CHILD"):
        rerun_under_fork(fork, "MAKE_FORK_CHECKPOINT_CHILD", [fork, config, out] + args[3:])
    import torch
    numpy2_shim()
    torch.manual_seed(int(option("--seed", "0")))
    from ultralytics import YOLO
    from ultralytics.nn import tasks as T
    d = T.yaml_model_load(config)
    d["scale"] = option("--scale", "n")
    model = YOLO(config)
    model.model = model.model.__class__(d, verbose=False)  # at the scale asked for
    net = model.model
    generator = torch.Generator().manual_seed(int(option("--seed", "0")) + 1)
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d) and m.weight.requires_grad:  # not DFL's fixed 0…15 weights
            # variance-keeping weights: PyTorch's default init shrinks the features layer by layer
            torch.nn.init.normal_(m.weight, std=(m.weight[0].numel()) ** -0.5 * 1.2, generator=generator)
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            with torch.no_grad():
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5, generator=generator)
                    m.bias.uniform_(-0.2, 0.2, generator=generator)
                m.running_mean.uniform_(-0.2, 0.2, generator=generator)
                m.running_var.uniform_(0.5, 1.5, generator=generator)
    head = net.model[-1]
    if hasattr(head, "kpt_shape"):
        net.kpt_shape = head.kpt_shape  # the pose trainer sets it from the data; the predictor reads it
    bias = float(option("--class-bias", "0"))
    gain = float(option("--class-gain", "1"))
    def branches(*names):
        # per level (a ModuleList), or one branch shared by the levels (the forks' light heads);
        # an end-to-end head's one-to-one copies too
        for name in names:
            part = getattr(head, name, None)
            if part is not None:
                yield from part if isinstance(part, torch.nn.ModuleList) else [part]

    if hasattr(head, "cv3"):
        for branch in branches("cv3", "one2one_cv3"):
            last = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            last.weight.data.mul_(gain)
            if last.bias is not None:
                last.bias.data.fill_(bias)
    # a model built from a YAML has no checkpoint dict; save() merges into it, and a loader takes
    # the task from its train_args (else it predicts as a detector)
    if hasattr(head, "cv2") and "--box-bin" in args:
        # boxes of a chosen size: each side's distribution peaks at DFL bin --box-bin (strides)
        bins, peak = int(getattr(head, "reg_max", 16)), int(option("--box-bin", "0"))
        for branch in branches("cv2", "one2one_cv2"):
            last = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            if last.bias is not None and last.bias.numel() == 4 * bins:
                last.bias.data.zero_()
                last.bias.data.view(4, bins)[:, peak] = 8.0
    if hasattr(head, "cv4") and "--mask-bias" in args:
        # a segment head's mask coefficients: a positive bias makes masks that are not empty
        for branch in branches("cv4"):
            last = [m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)][-1]
            if last.bias is not None:
                last.bias.data.fill_(float(option("--mask-bias", "0")))
    model.ckpt = {"train_args": {"task": model.task, "imgsz": 640}}
    if hasattr(model, "save"):
        model.save(out)
    else:  # releases before model.save (8.0.x): what their trainer's save_model writes
        from copy import deepcopy
        from ultralytics import __version__
        torch.save({**model.ckpt, "model": deepcopy(net).half(), "version": __version__}, out)
    print(f"{out}: {type(net).__name__}, head {type(head).__name__}, task {model.task}")


if __name__ == "__main__":
    main()
