"""random, mean, gaussian, mv-gaussian: rows satisfy their definitions on a tiny in-process model."""

from __future__ import annotations

import pytest
import torch

from sembridge.vocab import Overlap
from tests.methods.support import joint, make_context, regular_source_ids, source_model

MANY = 20_000


def many_new_rows(count: int = MANY) -> Overlap:
    """An overlap with ``count`` new tokens: enough draws to check moments."""
    return Overlap(matches=[], new_ids=list(range(count)), target_size=count)


def rows_joint(rows) -> torch.Tensor:
    pieces = [rows.embeddings.double()]
    if rows.decoder is not None:
        pieces.append(rows.decoder.double())
    if rows.bias is not None:
        pieces.append(rows.bias.double()[:, None])
    return torch.cat(pieces, dim=1)


@pytest.mark.parametrize("tie", [True, False])
def test_mean_rows_equal_the_mean_source_row_and_bias(tie):
    ctx, method = make_context("mean", tie=tie)
    rows = method.build(ctx)
    ids = regular_source_ids()
    n = len(ctx.overlap.new_ids)
    assert n > 0
    expected = ctx.parts.embeddings[ids].double().mean(0)
    torch.testing.assert_close(rows.embeddings.double(), expected.expand(n, -1), rtol=0, atol=1e-6)
    torch.testing.assert_close(
        rows.bias.double(), ctx.parts.bias[ids].double().mean().expand(n), rtol=0, atol=1e-6
    )
    if tie:
        assert rows.decoder is None
    else:
        expected_decoder = ctx.parts.decoder[ids].double().mean(0).expand(n, -1)
        torch.testing.assert_close(rows.decoder.double(), expected_decoder, rtol=0, atol=1e-6)
    assert "mean bias" in rows.bias_policy
    assert rows.weights is None


@pytest.mark.parametrize("tie", [True, False])
def test_random_rows_follow_initializer_range_and_zero_bias(tie):
    model = source_model(tie=tie, initializer_range=0.05)
    ctx, method = make_context("random", model=model, overlap=many_new_rows(5000))
    rows = method.build(ctx)
    assert rows.embeddings.shape == (5000, model.config.hidden_size)
    assert abs(float(rows.embeddings.std()) - 0.05) < 0.002
    assert abs(float(rows.embeddings.mean())) < 0.002
    assert torch.equal(rows.bias, torch.zeros(5000))
    if not tie:
        assert abs(float(rows.decoder.std()) - 0.05) < 0.002
        assert not torch.equal(rows.decoder, rows.embeddings)
    assert rows.info["std_from"] == "initializer_range of the source config"
    assert "zeros" in rows.bias_policy


def test_random_std_option_overrides_the_config():
    ctx, method = make_context("random", {"init_std": 0.5}, overlap=many_new_rows(4000))
    rows = method.build(ctx)
    assert abs(float(rows.embeddings.std()) - 0.5) < 0.02
    assert rows.info == {"std": 0.5, "std_from": "--init-std"}


@pytest.mark.parametrize("tie", [True, False])
def test_gaussian_draws_have_the_per_dimension_moments(tie):
    ctx, method = make_context("gaussian", tie=tie, overlap=many_new_rows())
    rows = method.build(ctx)
    source = joint(ctx.parts, regular_source_ids())
    drawn = rows_joint(rows)
    assert drawn.shape == (MANY, source.shape[1])
    std = source.std(0)
    # Standard errors: std / sqrt(n) for the mean, about std / sqrt(2n) for the std.
    assert torch.all((drawn.mean(0) - source.mean(0)).abs() < 5 * std / MANY**0.5)
    assert torch.all((drawn.std(0) - std).abs() < 5 * std / (2 * MANY) ** 0.5)
    # Dimensions are drawn independently: correlations near zero even where the source has some.
    corr = torch.corrcoef(drawn.T)
    off_diagonal = corr - torch.diag(torch.diag(corr))
    assert float(off_diagonal.abs().max()) < 0.05
    assert "per-dimension" in rows.bias_policy


@pytest.mark.parametrize("tie", [True, False])
def test_mv_gaussian_draws_have_the_full_covariance(tie):
    # 40 regular source rows in a joint space of 16 (+16) + 1 dimensions.
    model = source_model(tie=tie)
    ctx, method = make_context("mv-gaussian", model=model, overlap=many_new_rows())
    rows = method.build(ctx)
    source = joint(ctx.parts, regular_source_ids())
    drawn = rows_joint(rows)
    cov_source = torch.cov(source.T)
    cov_drawn = torch.cov(drawn.T)
    scale = float(torch.diag(cov_source).max())
    assert float((cov_drawn - cov_source).abs().max()) < 0.06 * scale
    assert torch.all((drawn.mean(0) - source.mean(0)).abs() < 5 * source.std(0) / MANY**0.5)
    assert rows.info["covariance_dim"] == source.shape[1]


def test_mv_gaussian_handles_a_singular_covariance():
    """Fewer source rows than dimensions: the covariance is singular; draws stay in the rows' affine span."""
    ctx, method = make_context("mv-gaussian", overlap=many_new_rows(500))
    ids = regular_source_ids()[:6]
    keep = torch.zeros(ctx.parts.embeddings.shape[0], dtype=torch.bool)
    keep[ids] = True
    # Only 6 regular source tokens: everything else marked special.
    ctx.source_tokens = [
        t if keep[t.id] else type(t)(t.id, t.token, t.canonical, "other") for t in ctx.source_tokens
    ]
    rows = method.build(ctx)
    source = joint(ctx.parts, ids)
    assert rows.info["covariance_rank"] == 5
    drawn = rows_joint(rows)
    assert torch.isfinite(drawn).all()
    centred = source - source.mean(0)
    basis = torch.linalg.svd(centred, full_matrices=False).Vh[:5]
    residual = (drawn - source.mean(0)) - (drawn - source.mean(0)) @ basis.T @ basis
    assert float(residual.abs().max()) < 1e-5
    assert float((drawn - source.mean(0)).abs().max()) > 1e-3  # not collapsed onto the mean


@pytest.mark.parametrize("method_name", ["random", "gaussian", "mv-gaussian"])
def test_draws_come_from_the_seeded_generator_only(method_name):
    first_ctx, first = make_context(method_name, seed=7)
    torch.manual_seed(1234)
    a = first.build(first_ctx)
    second_ctx, second = make_context(method_name, seed=7)
    torch.manual_seed(999)
    torch.rand(100)
    b = second.build(second_ctx)
    assert torch.equal(a.embeddings, b.embeddings)
    assert torch.equal(a.bias, b.bias)
    third_ctx, third = make_context(method_name, seed=8)
    assert not torch.equal(a.embeddings, third.build(third_ctx).embeddings)
