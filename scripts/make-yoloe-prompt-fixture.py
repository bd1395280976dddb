"""Makes the YOLOE zoo-parity fixture with text prompts, which zoo.py cannot: Ultralytics runs a
YOLOE model without prompts on zero embeddings [1, 80, 512] (so a narrow `embed` cannot run, and
zero prompts score every class alike, checking nothing of the class branches).

Builds FIXTURE.yaml with Ultralytics' YOLOEModel / YOLOESegModel (seed 0), randomises the
BatchNorm statistics as zoo.py does (its randomise_norms) and the parameters Ultralytics starts
at constants (reprta's w3 at zero, the contrastive heads' bias and logit_scale), then for 64×64
and 96×128, batch 2, runs YOLOEModel.predict(images, tpe=txt_feats) with seeded random
[1, nc, embed] prompts. Writes OUT/weights.safetensors and OUT/SIZE/{input,output}.safetensors
(images, txt_feats; output.0 or output.0.0/.1 and output.1.feats.N as zoo.py names them).

usage: REFENV/bin/python scripts/make-yoloe-prompt-fixture.py FIXTURE.yaml OUT
"""
import importlib.util
import sys
from pathlib import Path

import torch
import yaml
from safetensors.torch import save_file
from ultralytics.nn.tasks import YOLOEModel, YOLOESegModel

ZOO = Path(__file__).resolve().parents[2] / "shared" / "reference" / "zoo.py"


def main():
    config, out = Path(sys.argv[1]), Path(sys.argv[2])
    spec = importlib.util.spec_from_file_location("zoo", ZOO)
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    d = yaml.safe_load(config.read_text())
    args = d["head"][-1][3]
    segment = d["head"][-1][2].startswith("YOLOESegment")
    embed = (args[3] if len(args) > 3 else 512) if segment else (args[1] if len(args) > 1 else 512)
    torch.manual_seed(0)
    model = (YOLOESegModel if segment else YOLOEModel)(cfg=d, ch=3, verbose=False)
    g = torch.Generator().manual_seed(1)
    zoo.randomise_norms(model, g)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".reprta.m.w3." in name or name.endswith(".logit_scale") or (".cv4." in name and name.endswith(".bias") and p.numel() == 1):
                p.uniform_(-0.5, 0.5, generator=g)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().clone().contiguous() for k, v in model.state_dict().items() if v.dtype.is_floating_point},
              out / "weights.safetensors")
    text = torch.randn(1, d["nc"], embed, generator=g)
    for h, w in ((64, 64), (96, 128)):
        images = torch.rand(2, 3, h, w, generator=g)
        with torch.no_grad():
            primary, preds = model.predict(images, tpe=text)
        outputs = ({f"output.0.{i}": t.contiguous() for i, t in enumerate(primary)} if isinstance(primary, tuple)
                   else {"output.0": primary.contiguous()})
        outputs.update({f"output.1.feats.{i}": f.contiguous() for i, f in enumerate(preds.get("one2many", preds)["feats"])})
        folder = out / f"{h}x{w}"
        folder.mkdir(exist_ok=True)
        save_file(outputs, folder / "output.safetensors")
        save_file({"images": images.contiguous(), "txt_feats": text.contiguous()}, folder / "input.safetensors")


if __name__ == "__main__":
    main()
