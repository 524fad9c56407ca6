"""Subnet layout for a new VPC (pure): a large private subnet per AZ for pod IPs, a small public one.

The VPC is cut into eight equal slots. Private subnets take the first `az_count` slots (the VPC CNI
gives every pod a VPC address, so they need the room); the last slot is cut into eight again and the
public subnets, which hold only NAT gateways and load balancers, take the first `az_count` of those.
A /16 gives /19 private (8,187 usable) and /22 public subnets.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True)
class SubnetLayout:
    private: list[str]
    public: list[str]


def layout(vpc_cidr: str, az_count: int) -> SubnetLayout:
    if not 1 <= az_count <= 7:
        raise ValueError(f"az_count={az_count}: the layout has room for 1 to 7 AZs")
    vpc = ipaddress.IPv4Network(vpc_cidr)
    slots = list(vpc.subnets(prefixlen_diff=3))
    public_slots = list(slots[-1].subnets(prefixlen_diff=3))
    return SubnetLayout(
        private=[str(s) for s in slots[:az_count]],
        public=[str(s) for s in public_slots[:az_count]],
    )
