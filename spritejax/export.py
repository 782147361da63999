"""A trained sprite model as NNR items in an ISOBMFF file, and back (`spritejax export` / `spritejax import`).

Every parameter tensor (plus the decoded RGBA sprite sheet, as `sprite_sheet`) is one NNR compressed data unit
whose topology element id is the parameter's path; the start unit and parameter set go to the item's 'nnrC'
property, the data units to the 'nnr1' item's data (in 'idat'). The config travels as a 'mime'
(application/json) item with a 'cdsc' reference to the NNR item. Standalone files are 'ftyp' + a 'meta' with
handler 'nnet'; embedded files are the footage's MP4 with that MetaBox added and its video track announced as
an NNPFC post-filter (bmff.amd1.add_post_filter). A fine-tuned model can be added as an incremental update:
a second 'nnr1' item holding only the tensors that changed, with a 'pred' reference to its base.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

import bmff
from bmff import amd1, edit
from bmff.box import plausible_header
from bmff.boxes.file import FileTypeBox
from bmff.boxes.meta import MetaBox
from bmff.nnr_units import units_to_bytes

from . import config, inference, nnr
from .checkpoint import load_workdir
from .data import load_dataset
from .errors import UserError
from .metrics import psnr
from .reports import write_json
from .viz import save_png, sprite_sheet, write_animation

SHEET = "sprite_sheet"  # the decoded RGBA sprites, stored next to the parameters for viewers
RECOMMENDED_QP = -18  # from the size/PSNR curve in docs/amd1.md
CONFIG_MIME = "application/json"


@dataclasses.dataclass
class ExportReport:
    path: str
    mode: str  # 'standalone' | 'embedded'
    qp: int | None  # None: lossless (raw float32)
    dq: bool  # dependent quantisation (when qp is set)
    item_id: int
    tensors: int
    parameters: int
    nnr_bytes: int
    file_bytes: int


def _tensors(model, params) -> dict[str, np.ndarray]:
    flat = nnr.flatten(params)
    flat[SHEET] = np.asarray(model.decode_sprites(params), np.float32)
    return flat


def _check_input(path) -> None:
    """A missing file, or one whose first bytes are no box header (a JPEG, a PNG), is refused by what it is."""
    if not pathlib.Path(path).is_file():
        raise UserError(f"{path}: no such file")
    with open(path, "rb") as fp:
        head = fp.read(8)
    if not plausible_header(head):
        start = f"it starts with {head!r}, not a box header" if head else "it is empty"
        raise UserError(f"{path}: not an MP4/ISOBMFF file ({start})")


def _open(path) -> bmff.File:
    _check_input(path)
    try:
        return bmff.parse(path)
    except bmff.BmffError as e:
        raise UserError(f"{path}: not a readable MP4/ISOBMFF file: {e}") from None


def export(cfg, model, params, out, video=None, qp: int | None = None, base=None, dq: bool = True) -> ExportReport:
    """Write the model to `out`: standalone, into a copy of `video`, or as an update to the model in `base`.

    With `qp`, tensors are quantised and DeepCABAC-coded (spritejax.nnr); without, stored as raw float32.
    """
    tensors = _tensors(model, params)
    if base is not None:
        if video is not None:
            raise UserError("give either --video or --base: an update goes into the file of its base model")
        f = _open(base)
        _, base_chain, base_flat = _latest(f)
        changed = {k: v for k, v in tensors.items() if k not in base_flat or base_flat[k].tobytes() != v.tobytes()}
        bitstream = units_to_bytes(nnr.encode(changed, qp, dq))
        mode = "embedded" if any(t.handler_type == "vide" for t in bmff.tracks.tracks(f)) else "standalone"
        item_id = _add_model(f, bitstream, cfg, base_item=base_chain[-1], embedded=mode == "embedded")
        count = len(changed)
    else:
        bitstream = units_to_bytes(nnr.encode(tensors, qp, dq))
        if video is not None:
            f, mode = _open(video), "embedded"
        else:
            f = bmff.File([FileTypeBox("iso8", 0, ["iso8", "isom"])])
            mode = "standalone"
        item_id = _add_model(f, bitstream, cfg, embedded=mode == "embedded")
        count = len(tensors)
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        edit.write_with_fixed_offsets(f, out)
    except bmff.BmffError as e:
        raise UserError(f"cannot write {out}: {e}") from None
    n_params = sum(int(v.size) for k, v in tensors.items() if k != SHEET)
    return ExportReport(str(out), mode, qp, dq and qp is not None, item_id, count, n_params, len(bitstream),
                        out.stat().st_size)


def _add_model(f: bmff.File, bitstream: bytes, cfg, base_item: int | None = None, embedded: bool = False) -> int:
    try:
        if embedded:
            item_id = amd1.add_post_filter(f, bitstream, base_item=base_item, name="spritejax model")
        else:
            meta = amd1.file_meta(f)
            item_id = amd1.nnr_item(meta, bitstream, "spritejax model")
            if base_item is not None:
                amd1.add_reference(meta, "pred", item_id, [base_item])
    except bmff.BmffError as e:
        raise UserError(f"cannot add the model: {e}") from None
    meta = amd1.file_meta(f)
    config_id = amd1.add_item(meta, "mime", config.to_json(config.resolved(cfg)).encode(), "spritejax config",
                              content_type=CONFIG_MIME)
    amd1.add_reference(meta, "cdsc", config_id, [item_id])
    return item_id


# --------------------------------------------------------------------------------------------- import


def _nnet_meta(f: bmff.File) -> MetaBox:
    meta = amd1.find_file_meta(f, "nnet")
    if meta is None or "nnr1" not in amd1.item_types(meta).values():
        raise UserError("the file holds no NNR model ('meta' with handler 'nnet' and an 'nnr1' item)")
    return meta


def _chain(meta: MetaBox) -> list[int]:
    """NNR item ids from the base to the newest update, following 'pred' references."""
    types = amd1.item_types(meta)
    pred = {src: dst[0] for src, dst in amd1.references(meta, "pred") if dst}
    items = [i for i, t in types.items() if t == "nnr1"]
    heads = [i for i in items if i not in pred.values()]  # items nothing updates
    chain, seen = [max(heads) if heads else max(items)], set()
    while chain[-1] in pred:
        if chain[-1] in seen:
            raise UserError(f"'pred' references of item {chain[-1]} form a loop")
        seen.add(chain[-1])
        chain.append(pred[chain[-1]])
    return chain[::-1]


def _latest(f: bmff.File) -> tuple[MetaBox, list[int], dict[str, np.ndarray]]:
    """(meta, NNR item ids base first, tensors of base + every update applied in order)."""
    meta = _nnet_meta(f)
    chain = _chain(meta)
    flat: dict[str, np.ndarray] = {}
    for item_id in chain:
        try:
            data = amd1.nnr_bitstream(f, meta, item_id)
        except bmff.BmffError as e:
            raise UserError(f"NNR item {item_id} is unreadable (truncated file?): {e}") from None
        try:
            flat.update(nnr.decode_bytes(data))
        except UserError as e:
            raise UserError(f"NNR item {item_id}: {e}") from None
    return meta, chain, flat


def _config(f: bmff.File, meta: MetaBox, chain: list[int]):
    """The config of a model: the 'mime' item that describes ('cdsc') its newest NNR item with one."""
    types = amd1.item_types(meta)
    described = {d: src for src, dst in amd1.references(meta, "cdsc") if types.get(src) == "mime" for d in dst}
    for item_id in reversed(chain):
        src = described.get(item_id)
        if src is not None:
            try:
                return config.from_json(amd1.item_data(f, meta, src).decode())
            except (bmff.BmffError, UnicodeDecodeError, ValueError) as e:
                raise UserError(f"the model's config item {src} is unreadable: {e}") from None
    raise UserError("the file has an NNR model but no config item describing it ('mime' item with 'cdsc')")


def load(path):
    """(cfg, model, params) of the model in an exported file (standalone or embedded; updates applied)."""
    import jax

    from .model import SpriteModel

    f = _open(path)
    meta, chain, flat = _latest(f)
    cfg = _config(f, meta, chain)
    model = SpriteModel.from_config(cfg)
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0)))
    template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes)
    flat.pop(SHEET, None)
    params = nnr.unflatten(flat, template)
    return cfg, model, jax.tree.map(jax.numpy.asarray, params)


def export_workdir(workdir, out, video=None, qp: int | None = None, psnr_loss: float | None = None, base=None,
                   dq: bool = True, frames: int = 16) -> dict:
    """Export a training workdir's latest checkpoint to `out` (what `spritejax export` does): lossless, at `qp`, or
    at the coarsest qp whose PSNR loss is at most `psnr_loss` dB. The report is the ExportReport's fields, and for
    a quantised export the PSNR change on (up to `frames`) held-out frames and the qp search."""
    quantise = qp is not None or psnr_loss is not None
    if quantise:
        nnr.deepcabac()
    for path in (video, base):
        if path is not None:
            _check_input(path)
    cfg, model, params = load_workdir(workdir)
    searched = None
    if quantise:
        dataset = load_dataset(cfg.data, cfg.canvas)
        if psnr_loss is not None:
            qp, searched = search_qp(model, params, dataset, psnr_loss, frames, dq)
    report = dataclasses.asdict(export(cfg, model, params, out, video, qp, base, dq))
    if quantise:
        _, _, params_q = load(out)
        report.update(psnr_change(model, params, params_q, dataset, frames, ("hard", "soft")))
        if searched is not None:
            report["qp_search"] = searched
    return report


def _quantised(model, params, qp: int, dq: bool):
    """The parameters as `spritejax import` would read them back from an export at qp."""
    import jax

    flat = nnr.decode_bytes(units_to_bytes(nnr.encode(_tensors(model, params), qp, dq)))
    flat.pop(SHEET)
    template = jax.tree.map(np.asarray, params)
    return jax.tree.map(jax.numpy.asarray, nnr.unflatten(flat, template))


def search_qp(model, params, dataset, max_loss_db: float, frames: int, dq: bool = True) -> tuple[int, list[dict]]:
    """The coarsest qp from -10 down to -50 (steps of 2) whose hard- and soft-mode PSNR loss is ≤ max_loss_db,
    and the losses of every qp tried. Coarse first: the loss is not monotonic in qp at the 0.1 dB scale."""
    tried = []
    for qp in range(-10, -52, -2):
        change = psnr_change(model, params, _quantised(model, params, qp, dq), dataset, frames, ("hard", "soft"))
        loss = max(change["psnr_loss_db"], change["psnr_loss_db_soft"])
        tried.append({"qp": qp, "psnr_loss_db": round(change["psnr_loss_db"], 4),
                      "psnr_loss_db_soft": round(change["psnr_loss_db_soft"], 4)})
        if loss <= max_loss_db:
            return qp, tried
    raise UserError(f"no qp down to -50 keeps the PSNR loss within {max_loss_db} dB (at -50: {loss:.3f} dB); "
                    "export lossless (no --qp / --psnr-loss)")


def psnr_change(model, params, params_q, dataset, frames: int, modes=("hard",)) -> dict:
    """PSNR of the original and the quantised parameters on (up to `frames`) held-out frames, per render mode,
    and the loss in dB: {'psnr_lossless', 'psnr_quantized', 'psnr_loss_db'} for hard mode, `_soft` suffixed
    keys for soft mode. The qp search calls it many times: one compiled forward per mode serves them all."""
    idx = inference.eval_indices(dataset)[0][:frames]
    x = dataset.frames_nhw3[idx]
    keys = inference.frame_keys(0, inference.EVAL_STREAM, idx)
    out = {}
    for mode in modes:
        render = inference.forward(model, mode, ("recon_bhw3",))
        original, quantized = (float(psnr(np.asarray(render(p, x, keys)["recon_bhw3"]), x))
                               for p in (params, params_q))
        suffix = "" if mode == "hard" else f"_{mode}"
        out.update({f"psnr_lossless{suffix}": original, f"psnr_quantized{suffix}": quantized,
                    f"psnr_loss_db{suffix}": original - quantized})
    return out


def demo_export(cfg, model, params, dataset, out_dir) -> list[tuple[str, str]]:
    """The demo's export step: the model as a standalone NNR file and embedded in an MP4 of the game, read back
    from the MP4 and checked to render identically; returns the figure for the demo's index page."""
    out = pathlib.Path(out_dir)
    standalone = export(cfg, model, params, out / "model.mp4")
    frames = dataset.frames_nhw3[dataset.train_idx[:32]]
    video = write_animation(str(out / "game.mp4"), frames)
    embedded = export(cfg, model, params, out / "game_with_model.mp4", video=video)
    _, model2, params2 = load(out / "game_with_model.mp4")
    ids = dataset.train_idx[:8]
    keys = inference.frame_keys(0, inference.EVAL_STREAM, ids)
    same = bool(np.array_equal(*(np.asarray(inference.forward(m, "hard", ("recon_bhw3",))(p, frames[:8], keys)
                                            ["recon_bhw3"]) for m, p in ((model, params), (model2, params2)))))
    write_json(str(out / "export.json"), {"standalone": dataclasses.asdict(standalone),
                                          "embedded": dataclasses.asdict(embedded),
                                          "identical_reconstructions_after_reload": same})
    sprites = np.asarray(model2.decode_sprites(params2))
    save_png(str(out / "sprites_from_mp4.png"), sprite_sheet(sprites, range(len(sprites))))
    caption = (f"All {len(sprites)} dictionary sprites, decoded from the NNR item inside game_with_model.mp4 "
               f"({embedded.nnr_bytes} bytes of NNR units; reloaded model renders identically: {same}). "
               "model.mp4 is the standalone file.")
    return [(caption, "sprites_from_mp4.png")]
