"""An independent PyTorch DETR written from the official modules (torchvision is not installed here).

Module names follow the official model so that `state_dict()` has the official keys. Used to prove
that the Keras port computes what the official model computes, weight for weight.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class FrozenBN(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer("weight", torch.ones(n))
        self.register_buffer("bias", torch.zeros(n))
        self.register_buffer("running_mean", torch.zeros(n))
        self.register_buffer("running_var", torch.ones(n))

    def forward(self, x):
        scale = self.weight * (self.running_var + 1e-5).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale[None, :, None, None] + shift[None, :, None, None]


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, stride, dilation, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = FrozenBN(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = FrozenBN(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = FrozenBN(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet(nn.Module):
    """torchvision.models.resnet with replace_stride_with_dilation=[False, False, dilation], no fc."""

    def __init__(self, blocks=(3, 4, 6, 3), width=64, dilation=False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = FrozenBN(width)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes, current = width, 1
        for i, count in enumerate(blocks):
            planes, stride, previous = width * 2**i, (1 if i == 0 else 2), current
            if dilation and i == 3:
                current, stride = current * stride, 1
            down = None
            if stride != 1 or inplanes != planes * 4:
                down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), FrozenBN(planes * 4))
            layers = [Bottleneck(inplanes, planes, stride, previous, down)]
            inplanes = planes * 4
            layers += [Bottleneck(inplanes, planes, 1, current, None) for _ in range(1, count)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.num_channels = inplanes

    def forward(self, x):
        return self.stages(x)[-1]

    def stages(self, x):
        """[layer1, layer2, layer3, layer4] outputs (IntermediateLayerGetter with return_interm_layers)."""
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        outputs = []
        for name in ("layer1", "layer2", "layer3", "layer4"):
            x = getattr(self, name)(x)
            outputs.append(x)
        return outputs


class BackboneWithBody(nn.Module):
    def __init__(self, **kwargs):
        super().__init__()
        self.body = ResNet(**kwargs)


def sine_position(mask, num_pos_feats=128):
    not_mask = ~mask
    y = not_mask.cumsum(1, dtype=torch.float32)
    x = not_mask.cumsum(2, dtype=torch.float32)
    y = y / (y[:, -1:, :] + 1e-6) * 2 * math.pi
    x = x / (x[:, :, -1:] + 1e-6) * 2 * math.pi
    dim_t = torch.arange(num_pos_feats, dtype=torch.float32)
    dim_t = 10000 ** (2 * (dim_t // 2) / num_pos_feats)
    px, py = x[..., None] / dim_t, y[..., None] / dim_t
    px = torch.stack((px[..., 0::2].sin(), px[..., 1::2].cos()), dim=4).flatten(3)
    py = torch.stack((py[..., 0::2].sin(), py[..., 1::2].cos()), dim=4).flatten(3)
    return torch.cat((py, px), dim=3).permute(0, 3, 1, 2)


class EncoderLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, src, mask, pos):
        q = k = src + pos
        src = self.norm1(src + self.self_attn(q, k, value=src, key_padding_mask=mask)[0])
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


class DecoderLayer(nn.Module):
    def __init__(self, d, heads, ff):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.multihead_attn = nn.MultiheadAttention(d, heads, dropout=0.0)
        self.linear1, self.linear2 = nn.Linear(d, ff), nn.Linear(ff, d)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)

    def forward(self, tgt, memory, mask, pos, query_pos):
        q = k = tgt + query_pos
        tgt = self.norm1(tgt + self.self_attn(q, k, value=tgt)[0])
        tgt = self.norm2(
            tgt + self.multihead_attn(tgt + query_pos, memory + pos, value=memory, key_padding_mask=mask)[0]
        )
        return self.norm3(tgt + self.linear2(F.relu(self.linear1(tgt))))


class Stack(nn.Module):
    def __init__(self, layers, norm=None):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        if norm is not None:
            self.norm = norm


class Transformer(nn.Module):
    def __init__(self, d=256, heads=8, enc=6, dec=6, ff=2048):
        super().__init__()
        self.encoder = Stack([EncoderLayer(d, heads, ff) for _ in range(enc)])
        self.decoder = Stack([DecoderLayer(d, heads, ff) for _ in range(dec)], nn.LayerNorm(d))

    def forward(self, src, mask, query_embed, pos):
        return self.with_memory(src, mask, query_embed, pos)[0]

    def with_memory(self, src, mask, query_embed, pos):
        """(decoder states [L, N, Q, d], encoder memory [N, d, h, w]), as the official transformer returns."""
        bs, d, h, w = src.shape
        src, pos = src.flatten(2).permute(2, 0, 1), pos.flatten(2).permute(2, 0, 1)
        query_pos = query_embed.unsqueeze(1).repeat(1, bs, 1)
        mask = mask.flatten(1)
        memory = src
        for layer in self.encoder.layers:
            memory = layer(memory, mask, pos)
        tgt, states = torch.zeros_like(query_pos), []
        for layer in self.decoder.layers:
            tgt = layer(tgt, memory, mask, pos, query_pos)
            states.append(self.decoder.norm(tgt))
        return torch.stack(states).transpose(1, 2), memory.permute(1, 2, 0).reshape(bs, d, h, w)


class MLP(nn.Module):
    def __init__(self, d, out, n):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(d, d if i < n - 1 else out) for i in range(n))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = F.relu(layer(x)) if i < len(self.layers) - 1 else layer(x)
        return x


class ReferenceDETR(nn.Module):
    def __init__(
        self,
        blocks=(3, 4, 6, 3),
        width=64,
        dilation=False,
        d=256,
        heads=8,
        enc=6,
        dec=6,
        ff=2048,
        num_queries=100,
        num_classes=91,
    ):
        super().__init__()
        self.backbone = nn.ModuleList([BackboneWithBody(blocks=blocks, width=width, dilation=dilation)])
        self.transformer = Transformer(d, heads, enc, dec, ff)
        self.class_embed = nn.Linear(d, num_classes + 1)
        self.bbox_embed = MLP(d, 4, 3)
        self.query_embed = nn.Embedding(num_queries, d)
        self.input_proj = nn.Conv2d(self.backbone[0].body.num_channels, d, 1)

    def forward(self, images, mask):
        """images [N, 3, H, W] normalised and zero-padded, mask [N, H, W] True on padding."""
        features = self.backbone[0].body(images)
        small = F.interpolate(mask[None].float(), size=features.shape[-2:]).to(torch.bool)[0]
        hs = self.transformer(
            self.input_proj(features),
            small,
            self.query_embed.weight,
            sine_position(small, self.query_embed.weight.shape[1] // 2),
        )
        return {
            "pred_logits": self.class_embed(hs)[-1],
            "pred_boxes": self.bbox_embed(hs).sigmoid()[-1],
            "all_logits": self.class_embed(hs),
            "all_boxes": self.bbox_embed(hs).sigmoid(),
        }


class AttentionMap(nn.Module):
    """MHAttentionMap: softmax over (heads, h, w) of scaled q.k, no values; k_linear used as a 1x1 conv."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_linear, self.k_linear = nn.Linear(d, d), nn.Linear(d, d)

    def forward(self, q, memory, mask):
        bs, d, h, w = memory.shape
        q = self.q_linear(q)  # [N, Q, d]
        k = F.conv2d(memory, self.k_linear.weight[:, :, None, None], self.k_linear.bias)
        qh = q.reshape(bs, q.shape[1], self.heads, d // self.heads) * (d / self.heads) ** -0.5
        kh = k.reshape(bs, self.heads, d // self.heads, h, w)
        logits = (qh[:, :, :, :, None, None] * kh[:, None]).sum(3)  # [N, Q, heads, h, w]
        logits = logits.masked_fill(mask[:, None, None], float("-inf"))
        return F.softmax(logits.flatten(2), dim=-1).reshape(logits.shape)


class MaskHead(nn.Module):
    """MaskHeadSmallConv: 3x3 conv + GroupNorm(8) + ReLU blocks, FPN adapters added after nearest upsampling."""

    def __init__(self, dim, fpn_dims, context):
        super().__init__()
        widths = [dim, context // 2, context // 4, context // 8, context // 16]
        for i in range(5):
            setattr(self, f"lay{i + 1}", nn.Conv2d(widths[i - 1] if i else dim, widths[i], 3, padding=1))
            setattr(self, f"gn{i + 1}", nn.GroupNorm(8, widths[i]))
        self.out_lay = nn.Conv2d(widths[4], 1, 3, padding=1)
        for i in range(3):
            setattr(self, f"adapter{i + 1}", nn.Conv2d(fpn_dims[i], widths[i + 1], 1))

    def block(self, i, x):
        return F.relu(getattr(self, f"gn{i}")(getattr(self, f"lay{i}")(x)))

    def forward(self, src, attention, fpns):
        queries = attention.shape[1]
        x = torch.cat([src.repeat_interleave(queries, 0), attention.flatten(0, 1)], 1)
        x = self.block(2, self.block(1, x))
        for level, fpn in enumerate(fpns, start=1):
            adapted = getattr(self, f"adapter{level}")(fpn).repeat_interleave(queries, 0)
            x = self.block(level + 2, adapted + F.interpolate(x, size=adapted.shape[-2:], mode="nearest"))
        return self.out_lay(x)


class ReferenceDETRsegm(nn.Module):
    """DETRsegm: state-dict keys `detr.*`, `bbox_attention.*`, `mask_head.*` as the official panoptic models."""

    def __init__(self, num_classes=250, **detr_kwargs):
        super().__init__()
        self.detr = ReferenceDETR(num_classes=num_classes, **detr_kwargs)
        d, heads = self.detr.query_embed.weight.shape[1], detr_kwargs.get("heads", 8)
        body = self.detr.backbone[0].body
        channels = [getattr(body, f"layer{i}")[-1].conv3.out_channels for i in (3, 2, 1)]
        self.bbox_attention = AttentionMap(d, heads)
        self.mask_head = MaskHead(d + heads, channels, d)

    def forward(self, images, mask):
        detr = self.detr
        layer1, layer2, layer3, layer4 = detr.backbone[0].body.stages(images)
        small = F.interpolate(mask[None].float(), size=layer4.shape[-2:]).to(torch.bool)[0]
        src = detr.input_proj(layer4)
        hs, memory = detr.transformer.with_memory(
            src, small, detr.query_embed.weight, sine_position(small, src.shape[1] // 2)
        )
        attention = self.bbox_attention(hs[-1], memory, small)
        masks = self.mask_head(src, attention, [layer3, layer2, layer1])
        return {
            "pred_logits": detr.class_embed(hs)[-1],
            "pred_boxes": detr.bbox_embed(hs).sigmoid()[-1],
            "pred_masks": masks.reshape(images.shape[0], -1, *masks.shape[-2:]),
        }


def randomize_buffers(model: nn.Module, seed: int = 0) -> None:
    """Give frozen-BN statistics and affine terms, and group-norm affine terms, non-trivial values
    (fresh ones are the identity)."""
    g = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.GroupNorm):
            with torch.no_grad():
                module.weight.copy_(1.0 + 0.1 * torch.randn(module.num_channels, generator=g))
                module.bias.copy_(0.1 * torch.randn(module.num_channels, generator=g))
        if isinstance(module, FrozenBN):
            n = module.weight.shape[0]
            module.weight.copy_(1.0 + 0.1 * torch.randn(n, generator=g))
            module.bias.copy_(0.1 * torch.randn(n, generator=g))
            module.running_mean.copy_(0.1 * torch.randn(n, generator=g))
            module.running_var.copy_(0.5 + torch.rand(n, generator=g))
