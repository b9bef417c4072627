"""sandbox.nets.grouped: a grouped net of K members computes each member's solo net (outputs and gradients, float64),
its every parameter is K-major, the solo weights go in and come back out unchanged, and what cannot be grouped is
refused by name."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from sandbox import nets
from sandbox.nets.grouped import (
    GROUPINGS,
    GroupedLinear,
    GroupedProjection,
    group_players,
    grouped_copy,
    member_state,
    member_state_dicts,
    stack_members,
)

K, B = 3, 5
CASES = {  # family, spec, data channels
    "metz": nets.NetSpec(256, 3, 0.25, 0.5, True, True, 0.0, 0.0),
    "metz_no_bn_d": nets.NetSpec(256, 3, 0.25, 0.25, True, False, 0.0, 0.0),
    "dcgan": nets.NetSpec(100, 1, 0.25, 0.25, True, True, 0.0, 0.0),
    "dcgan_no_bn": nets.NetSpec(16, 3, 0.125, 0.25, False, False, 0.0, 0.0),
}


def family_of(case: str) -> str:
    return case.split("_")[0]


def members_and_group(case: str, dtype=torch.float64, channels_last: bool = False):
    """K solo (G, D) pairs seeded 0..K-1 and the grouped pair holding their weights."""
    spec = CASES[case]
    pairs = [nets.get_family(family_of(case)).build(spec, torch.Generator().manual_seed(k)) for k in range(K)]
    pairs = [(G.to(dtype), D.to(dtype)) for G, D in pairs]
    G, D = group_players(family_of(case), *pairs[0], K)
    stack_members(G, [p[0] for p in pairs])
    stack_members(D, [p[1] for p in pairs])
    if channels_last:
        G, D = G.to(memory_format=torch.channels_last), D.to(memory_format=torch.channels_last)
    return pairs, G, D


@pytest.mark.parametrize("case", sorted(CASES))
def test_grouped_nets_compute_each_members_solo_net_and_its_gradients(case):
    pairs, G, D = members_and_group(case)
    spec, g = CASES[case], torch.Generator().manual_seed(7)
    z = torch.randn(K, B, spec.z_dim, generator=g, dtype=torch.float64)
    real = torch.rand(B, K * spec.channels, 28, 28, generator=g, dtype=torch.float64) * 2 - 1
    fake = G(z.transpose(0, 1))  # (B, K C, 28, 28)
    logits = D(fake) + D(real)  # (B, K), train-mode BatchNorm: batch statistics per member
    assert fake.shape == (B, K * spec.channels, 28, 28) and logits.shape == (B, K)
    logits.square().sum().backward()
    C = spec.channels
    for k, (G_k, D_k) in enumerate(pairs):
        fake_k = G_k(z[k])
        logits_k = D_k(fake_k) + D_k(real[:, k * C : (k + 1) * C])
        # float64, measured: outputs agree to 2e-16 (metz) and 1e-14 (dcgan); gradients to 3e-15 relative
        assert_close(fake[:, k * C : (k + 1) * C], fake_k, rtol=1e-12, atol=1e-12)
        assert_close(logits[:, k], logits_k, rtol=1e-12, atol=1e-12)
        logits_k.square().sum().backward()
        for grouped, solo in ((G, G_k), (D, D_k)):
            solo_params = dict(solo.named_parameters())
            for name, p in grouped.named_parameters():
                # reshape(K, -1) splits every grouped gradient by member: K-major, batched-matmul weights included
                assert_close(p.grad.reshape(K, -1)[k], solo_params[name].grad.reshape(-1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_grouped_tensor_is_k_major_and_round_trips_exactly(case):
    pairs, G, D = members_and_group(case, channels_last=True)
    for grouped, which in ((G, 0), (D, 1)):
        template = pairs[0][which]
        solo_shapes = {n: t.shape for n, t in template.state_dict().items()}
        assert sorted(grouped.state_dict()) == sorted(solo_shapes)  # the solo net's names, nothing else
        for name, p in grouped.named_parameters():
            assert p.shape[0] % K == 0
            for k in range(K):
                assert torch.equal(p.reshape(K, -1)[k], dict(pairs[k][which].named_parameters())[name].reshape(-1))
        back = member_state_dicts(grouped, template, K)
        for k in range(K):
            for name, t in pairs[k][which].state_dict().items():
                assert torch.equal(back[k][name], t), name
                assert back[k][name].shape == t.shape and back[k][name].is_contiguous()


def test_member_state_is_a_view_that_writes_through_and_carries_gradients():
    pairs, G, D = members_and_group("metz")
    views = member_state(D, pairs[0][1], 1, K)
    with torch.no_grad():
        views["head.weight"].fill_(0.5)
    assert (D.head.weight[1] == 0.5).all() and not (D.head.weight[0] == 0.5).any()
    x = torch.randn(B, 3, 28, 28, dtype=torch.float64)
    torch.func.functional_call(pairs[0][1], member_state(D, pairs[0][1], 2, K), (x,)).sum().backward()
    grads = D.features[1].weight.grad.reshape(K, -1)
    assert grads[2].abs().sum() > 0 and grads[0].abs().sum() == 0 and grads[1].abs().sum() == 0


def test_batched_matmul_layers_equal_the_solo_linear_and_projection():
    g = torch.Generator().manual_seed(0)
    linears = [nn.Linear(6, 4).double() for _ in range(K)]
    grouped = GroupedLinear(K, 6, 4).double()
    stack_members(grouped, linears)
    x = torch.randn(B, K, 6, generator=g, dtype=torch.float64)
    y = grouped(x)
    assert y.shape == (B, K, 4)
    assert_close(grouped(x.reshape(B, K * 6)), y, rtol=0, atol=0)
    for k in range(K):
        assert_close(y[:, k], linears[k](x[:, k]), rtol=1e-14, atol=1e-15)
    convs = [nn.ConvTranspose2d(6, 2, 7).double() for _ in range(K)]
    proj = GroupedProjection(K, convs[0]).double()
    stack_members(proj, convs)
    out = proj(x.reshape(B, K * 6, 1, 1))
    assert out.shape == (B, K * 2, 7, 7)
    for k in range(K):
        assert_close(out[:, 2 * k : 2 * k + 2], convs[k](x[:, k, :, None, None]), rtol=1e-14, atol=1e-15)


def test_grouping_refuses_what_it_cannot_batch():
    with pytest.raises(ValueError, match="cannot group a LayerNorm layer"):
        grouped_copy(nn.Sequential(nn.Linear(2, 2), nn.LayerNorm(2)), K)
    G, D = nets.get_family("resnet_sn").build(CASES["dcgan"], None)
    with pytest.raises(ValueError, match="net 'resnet_sn' has no grouped form; grouped families: dcgan, metz"):
        group_players("resnet_sn", G, D, K)
    assert sorted(GROUPINGS) == ["dcgan", "metz"]


def test_grouped_float32_outputs_agree_with_the_solo_nets():
    """float32: the grouped kernels sum in another order; measured max |difference| 3e-7 (G), 4e-6 (logits)."""
    for case in ("metz", "dcgan"):
        pairs, G, D = members_and_group(case, torch.float32, channels_last=case == "metz")
        spec = CASES[case]
        z = torch.randn(K, 16, spec.z_dim, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            fake, C = G(z.transpose(0, 1)), spec.channels
            logits = D(fake)
            for k, (G_k, D_k) in enumerate(pairs):
                assert_close(fake[:, k * C : (k + 1) * C], G_k(z[k]), rtol=1e-4, atol=2e-6)
                assert_close(logits[:, k], D_k(fake[:, k * C : (k + 1) * C]), rtol=1e-4, atol=2e-5)
