"""The "no attack" row every table needs: images and files pass through unchanged."""

from spoc_bench.contracts import Attack
from spoc_bench.registry import register_attack


@register_attack("identity")
class Identity(Attack):
    """No attack: returns its inputs unchanged (asr equals asr_before; the reference row)."""

    threat_model = "none"
    uses_networks = False
    uses_target = False

    def __init__(self):
        pass

    def forward(self, images):
        return images

    def output_container(self, container):
        return container
