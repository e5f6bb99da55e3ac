"""Agent policies: the interface, the scripted customers and businesses, and their presets."""

from tokenomy.market.policies.params import (
    BUSINESS_PRESETS,
    CUSTOMER_PRESETS,
    BusinessParams,
    CustomerParams,
    business_params,
    customer_params,
)

__all__ = [
    "BUSINESS_PRESETS",
    "CUSTOMER_PRESETS",
    "BusinessParams",
    "CustomerParams",
    "business_params",
    "customer_params",
]
