//! Where the replicas of one run listen, and the addresses of the links between them.
//!
//! A run takes a random /24 block of loopback addresses `127.X.Y.0/24` (X in 100..=250), so
//! that concurrent runs never share an address and fault rules written against addresses
//! only touch this run's replicas:
//!
//! | address                     | what                                                    |
//! |-----------------------------|---------------------------------------------------------|
//! | `127.X.Y.(10+i):P_i`        | replica `i`'s peer listener                             |
//! | `127.X.Y.(10+i):C_i`        | replica `i`'s client port                               |
//! | `127.X.Y.(10+i):G_i`        | replica `i`'s etcd gRPC port (`--grpc-addr`), if asked  |
//! | `127.X.Y.(100+10a+b):P_b`   | the link from replica `a` to replica `b`                |
//!
//! Replica `a` is told (`--peers`) that replica `b` lives at the *link address* `a→b`, not
//! at `b`'s own address. Nothing listens there: the network layer either rewrites it to
//! `b`'s address in the kernel (iptables DNAT, so a DROP rule can name the link by its
//! original destination) or runs a user-space proxy on it. Outgoing sockets on loopback
//! take `127.0.0.1` as their source address whatever the destination, so the destination is
//! the only address that can tell links apart.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use ddbb_libs::NodeId;
use rand::Rng;

use crate::error::{Error, Result};

/// Most replicas a run can have (link addresses encode both ids in one decimal byte).
pub const MAX_NODES: usize = 9;

/// The addresses of one run's replicas and links.
#[derive(Debug, Clone)]
pub struct AddressPlan {
    block: [u8; 2],
    peer_ports: Vec<u16>,
    client_ports: Vec<u16>,
    grpc_ports: Vec<u16>,
}

impl AddressPlan {
    /// Picks a random loopback block and free ports for `nodes` replicas.
    ///
    /// # Errors
    /// [`Error::Harness`] if `nodes` is not in `1..=MAX_NODES` or no port can be bound.
    pub fn new(nodes: usize) -> Result<AddressPlan> {
        if !(1..=MAX_NODES).contains(&nodes) {
            return Err(Error::Harness(format!(
                "--nodes must be between 1 and {MAX_NODES}, got {nodes}"
            )));
        }
        let mut rng = rand::thread_rng();
        let block = [rng.gen_range(100..=250), rng.gen_range(0..=255)];
        let mut plan = AddressPlan {
            block,
            peer_ports: Vec::with_capacity(nodes),
            client_ports: Vec::with_capacity(nodes),
            grpc_ports: Vec::with_capacity(nodes),
        };
        for id in 1..=nodes as NodeId {
            let ip = plan.node_ip(id);
            // Bound together so the ports differ; released before the replica binds them.
            let bound = [(); 3].map(|()| TcpListener::bind((ip, 0)));
            let [Ok(peer), Ok(client), Ok(grpc)] = bound else {
                return Err(Error::Harness(format!("cannot bind a port on {ip}")));
            };
            let port = |l: &TcpListener| l.local_addr().map(|a| a.port());
            let (Ok(p), Ok(c), Ok(g)) = (port(&peer), port(&client), port(&grpc)) else {
                return Err(Error::Harness(format!("cannot read a port bound on {ip}")));
            };
            plan.peer_ports.push(p);
            plan.client_ports.push(c);
            plan.grpc_ports.push(g);
        }
        Ok(plan)
    }

    /// Number of replicas.
    pub fn nodes(&self) -> usize {
        self.peer_ports.len()
    }

    /// Replica ids, `1..=nodes`.
    pub fn ids(&self) -> impl Iterator<Item = NodeId> {
        1..=self.nodes() as NodeId
    }

    /// Replica `id`'s own address.
    pub fn node_ip(&self, id: NodeId) -> Ipv4Addr {
        Ipv4Addr::new(127, self.block[0], self.block[1], 10 + id as u8)
    }

    /// Replica `id`'s peer listener.
    pub fn peer_addr(&self, id: NodeId) -> SocketAddr {
        SocketAddr::from((self.node_ip(id), self.peer_ports[id as usize - 1]))
    }

    /// Replica `id`'s client port.
    pub fn client_addr(&self, id: NodeId) -> SocketAddr {
        SocketAddr::from((self.node_ip(id), self.client_ports[id as usize - 1]))
    }

    /// Replica `id`'s etcd gRPC port (served when the cluster is started with gRPC).
    pub fn grpc_addr(&self, id: NodeId) -> SocketAddr {
        SocketAddr::from((self.node_ip(id), self.grpc_ports[id as usize - 1]))
    }

    /// The `--grpc-peers` argument: every replica's gRPC address (etcd's MemberList).
    pub fn grpc_peers_arg(&self) -> String {
        self.ids()
            .map(|id| format!("{id}={}", self.grpc_addr(id)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The address replica `from` dials to reach replica `to`.
    pub fn link_addr(&self, from: NodeId, to: NodeId) -> SocketAddr {
        let last = 100 + 10 * from as u8 + to as u8;
        let ip = Ipv4Addr::new(127, self.block[0], self.block[1], last);
        SocketAddr::from((ip, self.peer_ports[to as usize - 1]))
    }

    /// Every directed link `(from, to)`, `from != to`.
    pub fn links(&self) -> Vec<(NodeId, NodeId)> {
        let mut links = Vec::new();
        for from in self.ids() {
            for to in self.ids().filter(|&to| to != from) {
                links.push((from, to));
            }
        }
        links
    }

    /// The `--peers` argument of replica `id`: its own listener, and link addresses for the
    /// others.
    pub fn peers_arg(&self, id: NodeId) -> String {
        self.ids()
            .map(|other| {
                let addr = if other == id {
                    self.peer_addr(id)
                } else {
                    self.link_addr(id, other)
                };
                format!("{other}={addr}")
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The block, `127.X.Y.0/24`, for reports.
    pub fn block(&self) -> String {
        format!("127.{}.{}.0/24", self.block[0], self.block[1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_distinct_and_name_both_ends_of_a_link() {
        let plan = AddressPlan::new(5).unwrap();
        assert_eq!(plan.nodes(), 5);
        let mut seen = std::collections::BTreeSet::new();
        for id in plan.ids() {
            assert!(seen.insert(plan.peer_addr(id)));
            assert!(seen.insert(plan.client_addr(id)));
            assert!(seen.insert(plan.grpc_addr(id)));
        }
        for (a, b) in plan.links() {
            let link = plan.link_addr(a, b);
            assert!(seen.insert(link), "link {a}->{b} reuses an address");
            assert_eq!(link.port(), plan.peer_addr(b).port());
            assert_eq!(
                link.ip().to_string().rsplit('.').next(),
                Some(&*format!("1{a}{b}"))
            );
        }
        assert_eq!(plan.links().len(), 20);
        let peers = plan.peers_arg(2);
        assert!(peers.contains(&format!("2={}", plan.peer_addr(2))));
        assert!(peers.contains(&format!("1={}", plan.link_addr(2, 1))));
        assert!(plan
            .grpc_peers_arg()
            .starts_with(&format!("1={},2=", plan.grpc_addr(1))));
        assert!(AddressPlan::new(0).is_err());
        assert!(AddressPlan::new(MAX_NODES + 1).is_err());
    }
}
