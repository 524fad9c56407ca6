"""SharedCache: an ElastiCache (Valkey/Redis) replication group the router replicas share.

Exact cache entries and the semantic cache's entry stream live here, so a hit made by one replica
serves all of them. Reachable only from the cluster's nodes (security group), encrypted at rest and
in transit; with replicas, Multi-AZ with automatic failover. The router treats it as optional: if
it is down, requests are still served (runtime/cache).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs, InputStr, InputStrList
from infra.config import SharedCacheConfig

PORT = 6379
ENGINE_VERSION = {"valkey": "8.0", "redis": "7.1"}


class SharedCacheArgs(ComponentArgs):
    config: SharedCacheConfig
    name_prefix: str
    vpc_id: InputStr
    subnet_ids: InputStrList
    client_security_group_id: InputStr
    """The security group of the nodes that may connect (the cluster's)."""
    tags: dict[str, str]


class SharedCache(pulumi.ComponentResource):
    primary_endpoint: pulumi.Output[str]
    port: int

    def __init__(self, name: str, args: SharedCacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:cache:SharedCache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        cfg = args.config
        subnets = aws.elasticache.SubnetGroup(
            f"{name}-subnets",
            description=f"Private subnets of {args.name_prefix}'s shared response cache",
            subnet_ids=args.subnet_ids,
            tags=args.tags,
            opts=child,
        )
        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"{args.name_prefix} shared cache: {cfg.engine} from the cluster's nodes only",
            vpc_id=args.vpc_id,
            tags=args.tags,
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-nodes",
            security_group_id=group.id,
            referenced_security_group_id=args.client_security_group_id,
            ip_protocol="tcp",
            from_port=PORT,
            to_port=PORT,
            description="router pods on the cluster's nodes",
            tags=args.tags,
            opts=child,
        )
        highly_available = cfg.replicas > 0
        replication = aws.elasticache.ReplicationGroup(
            f"{name}-rg",
            description=f"{args.name_prefix} shared response cache",
            engine=cfg.engine,
            engine_version=ENGINE_VERSION[cfg.engine],
            node_type=cfg.node_type,
            num_cache_clusters=1 + cfg.replicas,
            automatic_failover_enabled=highly_available,
            multi_az_enabled=highly_available,
            port=PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            snapshot_retention_limit=cfg.snapshot_retention_days,
            tags=args.tags,
            opts=child,
        )
        self.primary_endpoint = replication.primary_endpoint_address
        self.port = PORT
        self.register_outputs({"primary_endpoint": self.primary_endpoint})
