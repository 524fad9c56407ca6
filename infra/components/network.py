"""Network: a VPC with public and private subnets over N AZs and NAT gateways, or an existing VPC."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components._base import TOKEN_PREFIX, ComponentArgs
from infra.config import ExistingVpc, NewVpc
from infra.subnets import layout


class NetworkArgs(ComponentArgs):
    config: NewVpc | ExistingVpc
    cluster_name: str
    tags: dict[str, str]
    s3_gateway_endpoint_region: str | None = None
    """Region of an S3 gateway endpoint on the private route tables (model pulls skip the NAT); None: none."""


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"{TOKEN_PREFIX}:network:Network", name, None, opts)
        if isinstance(args.config, ExistingVpc):
            # Nothing is created: the cluster goes into subnets someone else owns (and tags), and
            # their owner decides about endpoints too.
            if args.s3_gateway_endpoint_region is not None:
                pulumi.log.warn(
                    "an existing VPC gets no S3 gateway endpoint from this stack; without one, model pulls "
                    "are billed as NAT data processing. Add com.amazonaws.<region>.s3 to its private route tables.",
                    resource=self,
                )
            self.vpc_id = pulumi.Output.from_input(args.config.vpc_id)
            self.private_subnet_ids = pulumi.Output.from_input(list(args.config.private_subnet_ids))
            self.public_subnet_ids = pulumi.Output.from_input(list(args.config.public_subnet_ids))
        else:
            self._create_vpc(name, args, args.config)
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "private_subnet_ids": self.private_subnet_ids,
                "public_subnet_ids": self.public_subnet_ids,
            }
        )

    def _create_vpc(self, name: str, args: NetworkArgs, cfg: NewVpc) -> None:
        child = pulumi.ResourceOptions(parent=self)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        def tags(extra_name: str, **extra: str) -> dict[str, str]:
            return {**args.tags, "Name": f"{args.cluster_name}-{extra_name}", **extra}

        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        cidrs = layout(cfg.cidr, cfg.az_count)
        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=cfg.cidr,
            enable_dns_hostnames=True,  # EKS nodes register by private DNS name
            enable_dns_support=True,
            tags=tags("vpc"),
            opts=child,
        )
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, tags=tags("igw"), opts=child)

        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
            tags=tags("public"),
            opts=child,
        )
        public_subnets: list[aws.ec2.Subnet] = []
        private_subnets: list[aws.ec2.Subnet] = []
        for i in range(cfg.az_count):
            az = zones.names[i]
            public = aws.ec2.Subnet(
                f"{name}-public-{i}",
                vpc_id=vpc.id,
                cidr_block=cidrs.public[i],
                availability_zone=az,
                # Only NAT gateways and load balancers live here; nothing gets a public IP by accident.
                map_public_ip_on_launch=False,
                tags=tags(f"public-{i}", **cluster_tag, **{"kubernetes.io/role/elb": "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{i}", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            public_subnets.append(public)
            private_subnets.append(
                aws.ec2.Subnet(
                    f"{name}-private-{i}",
                    vpc_id=vpc.id,
                    cidr_block=cidrs.private[i],
                    availability_zone=az,
                    tags=tags(f"private-{i}", **cluster_tag, **{"kubernetes.io/role/internal-elb": "1"}),
                    opts=child,
                )
            )

        # One NAT per AZ is the HA choice; fewer NATs (dev) route every AZ through the first ones and
        # accept cross-AZ data charges and a single point of failure for $32.85/month each saved.
        nats: list[aws.ec2.NatGateway] = []
        for i in range(cfg.nat_gateways):
            eip = aws.ec2.Eip(f"{name}-nat-{i}", domain="vpc", tags=tags(f"nat-{i}"), opts=child)
            nats.append(
                aws.ec2.NatGateway(
                    f"{name}-nat-{i}",
                    allocation_id=eip.id,
                    subnet_id=public_subnets[i].id,
                    tags=tags(f"nat-{i}"),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                )
            )
        private_route_tables: list[aws.ec2.RouteTable] = []
        for i, subnet in enumerate(private_subnets):
            rt = aws.ec2.RouteTable(
                f"{name}-private-rt-{i}",
                vpc_id=vpc.id,
                routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nats[i % len(nats)].id}],
                tags=tags(f"private-{i}"),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{i}", subnet_id=subnet.id, route_table_id=rt.id, opts=child)
            private_route_tables.append(rt)
        if args.s3_gateway_endpoint_region is not None:
            # A gateway endpoint is free (no hourly or per-GB charge); S3 traffic from the private
            # subnets then bypasses the NAT gateways and their per-GB processing charge.
            aws.ec2.VpcEndpoint(
                f"{name}-s3",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{args.s3_gateway_endpoint_region}.s3",
                vpc_endpoint_type="Gateway",
                route_table_ids=[rt.id for rt in private_route_tables],
                tags=tags("s3-endpoint"),
                opts=child,
            )

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
