"""Export paths of the CoordConv layers: torch.compile(fullgraph=True), torch.export and ONNX.

Each layer is compiled/exported on one small input and compared with eager mode.
Compile tests are named ``test_compile_*`` (deselect with ``-k "not compile"``):
they cost ~5-20 s each on a CPU, mostly the first.

What is exported: the batch size may be dynamic; the spatial size is
specialised (the coordinate grid is built with ``torch.linspace``, whose length
export cannot keep symbolic), so export once per input size. In the ONNX graph
the coordinate term is then a constant folded by the exporter.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.export import Dim

from coordlib.layers import ConcatCoordConv2d, CoordConv1d, CoordConv2d, CoordConv3d, CoordConvTranspose2d


def _layers():
    """name -> (layer, input): one small case per layer, with r, non-default options where they exist."""
    torch.manual_seed(0)
    return {
        "CoordConv1d": (CoordConv1d(2, 3, 3, padding=1, with_r=True, padding_mode="circular"), (2, 2, 9)),
        "CoordConv2d": (CoordConv2d(4, 6, 3, stride=2, padding=1, with_r=True, groups=2, padding_mode="reflect"),
                        (2, 4, 7, 6)),
        "CoordConv3d": (CoordConv3d(2, 3, 3, padding=1, with_r=True), (2, 2, 3, 4, 5)),
        "CoordConvTranspose2d": (CoordConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1, with_r=True),
                                 (2, 2, 5, 4)),
        "ConcatCoordConv2d": (ConcatCoordConv2d(3, 4, 3, padding=1, with_r=True), (2, 3, 6, 5)),
    }


NAMES = list(_layers())


def _case(name):
    layer, shape = _layers()[name]
    torch.manual_seed(1)
    return layer, torch.randn(*shape)


def _batch(x, n):
    """The same spatial size, another batch size."""
    torch.manual_seed(2)
    return torch.randn(n, *x.shape[1:])


@pytest.mark.parametrize("name", NAMES)
def test_compile_fullgraph_matches_eager(name):
    torch._dynamo.reset()
    layer, x = _case(name)
    compiled = torch.compile(layer, fullgraph=True)  # fullgraph: any graph break is an error
    x1, x2 = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    out, expected = compiled(x1), layer(x2)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    eager_grad = torch.autograd.grad(expected.sum(), [x2, layer.weight])
    compiled_grad = torch.autograd.grad(out.sum(), [x1, layer.weight])
    for a, b in zip(compiled_grad, eager_grad):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_torch_export_matches_eager_with_dynamic_batch(name):
    layer, x = _case(name)
    program = torch.export.export(layer, (x,), dynamic_shapes={"x": {0: Dim("batch", max=1024)}})
    exported = program.module()
    for n in (x.shape[0], 5):
        xn = _batch(x, n)
        torch.testing.assert_close(exported(xn), layer(xn), rtol=1e-6, atol=1e-6)
    targets = {str(node.target) for node in program.graph.nodes if node.op == "call_function"}
    concatenates = any("cat" in t for t in targets)
    assert concatenates == (name == "ConcatCoordConv2d"), targets  # only the reference layer concatenates


@pytest.mark.parametrize("name", NAMES)
def test_onnx_export_checks_and_runs(name, tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")  # torch.onnx's exporter
    layer, x = _case(name)
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (x,), str(path), dynamo=True, verbose=False,
                          dynamic_shapes={"x": {0: Dim("batch", max=1024)}})
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    ops = {node.op_type for node in model.graph.node}
    assert ("Concat" in ops) == (name == "ConcatCoordConv2d"), ops
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (x.shape[0], 3):
        xn = _batch(x, n)
        (out,) = session.run(None, {session.get_inputs()[0].name: xn.numpy()})
        torch.testing.assert_close(torch.from_numpy(out), layer(xn).detach(), rtol=1e-5, atol=1e-5)
