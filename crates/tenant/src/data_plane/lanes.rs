//! How one PostgreSQL cluster's connections are split into lanes (small pools), and which
//! lane a tenant's unit of work runs on (two choices fixed by its id: the less busy one).

use super::postgres::postgres_options;
use sea_orm::{Database, DatabaseConnection, DbErr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use uuid::Uuid;

/// How one cluster's connections are split.
#[derive(Debug, Clone, Copy)]
pub(super) struct LaneShape {
    lanes: u32,
    per_lane: u32,
}

impl LaneShape {
    /// At least two connections per lane, so a tenant's two lanes hold four.
    pub(super) fn new(max_connections: u32, lanes: u32) -> Self {
        let lanes = lanes.clamp(1, (max_connections / 2).max(1));
        Self {
            lanes,
            per_lane: (max_connections / lanes).max(1),
        }
    }

    /// The control plane's own pool: registry, keys and credentials are read once and cached,
    /// so it needs a few connections, not a lane's worth.
    pub(super) fn control_connections(max_connections: u32) -> u32 {
        (max_connections / 8).clamp(2, 8)
    }
}

/// One cluster's tenant connections, as `lanes` small pools.
pub(super) struct Lanes {
    lanes: Vec<Lane>,
    per_lane: usize,
    /// Where the search for a lane with a free connection starts, rotating.
    next: AtomicUsize,
}

struct Lane {
    pool: DatabaseConnection,
    /// Units of work holding or waiting for one of this lane's connections.
    load: Arc<AtomicUsize>,
}

impl Lanes {
    /// Lazy: a lane opens connections when first used, so an idle gateway holds few.
    pub(super) async fn connect(url: &str, shape: LaneShape) -> Result<Self, DbErr> {
        let mut lanes = Vec::with_capacity(shape.lanes as usize);
        for _ in 0..shape.lanes {
            let mut options = postgres_options(url, shape.per_lane, 0);
            options.connect_lazy(true);
            lanes.push(Lane {
                pool: Database::connect(options).await?,
                load: Arc::new(AtomicUsize::new(0)),
            });
        }
        Ok(Self {
            lanes,
            per_lane: shape.per_lane as usize,
            next: AtomicUsize::new(0),
        })
    }

    pub(super) fn any(&self) -> &DatabaseConnection {
        &self.lanes[0].pool
    }

    /// The less loaded of the tenant's two lanes (power of two choices), so each lane serves
    /// about 2/lanes of the tenants. When both would make it wait, the work moves to the
    /// least loaded lane if that one has a free connection or a queue shorter by at least a
    /// lane's connections: a busy tenant borrows idle capacity and no queue grows long behind
    /// one hot tenant, while under even load work stays on its own lanes and their caches.
    pub(super) fn for_tenant(&self, tenant: Uuid) -> (&DatabaseConnection, LaneTicket) {
        let (first, second) = lane_pair(tenant, self.lanes.len());
        let load = |i: usize| self.lanes[i].load.load(Ordering::Relaxed);
        let (first_load, second_load) = (load(first), load(second));
        let (mut pick, own_load) = if second_load < first_load {
            (second, second_load)
        } else {
            (first, first_load)
        };
        if own_load >= self.per_lane {
            let n = self.lanes.len();
            let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
            let (least, least_load) = (0..n)
                .map(|k| (start + k) % n)
                .map(|i| (i, load(i)))
                .min_by_key(|&(_, l)| l)
                .unwrap_or((pick, own_load));
            if least_load < self.per_lane || least_load + self.per_lane <= own_load {
                pick = least;
            }
        }
        let lane = &self.lanes[pick];
        lane.load.fetch_add(1, Ordering::Relaxed);
        (&lane.pool, LaneTicket(Some(lane.load.clone())))
    }
}

/// A unit of work's place in its lane, given back when the transaction ends.
pub(crate) struct LaneTicket(Option<Arc<AtomicUsize>>);

impl LaneTicket {
    pub(super) fn none() -> Self {
        Self(None)
    }
}

impl Drop for LaneTicket {
    fn drop(&mut self) {
        if let Some(load) = &self.0 {
            load.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Two distinct lanes for a tenant (one when there is one lane), fixed by its id.
fn lane_pair(tenant: Uuid, lanes: usize) -> (usize, usize) {
    if lanes <= 1 {
        return (0, 0);
    }
    let bits = tenant.as_u128();
    // Mix both halves so that ids differing in any bits spread over the lanes.
    let h = ((bits as u64) ^ ((bits >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let first = ((h >> 32) % lanes as u64) as usize;
    let step = 1 + ((h & 0xFFFF_FFFF) % (lanes as u64 - 1)) as usize;
    (first, (first + step) % lanes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_gets_two_distinct_lanes_and_tenants_spread_evenly() {
        let lanes = 8;
        let mut per_lane = vec![0usize; lanes];
        for _ in 0..8_000 {
            let (a, b) = lane_pair(Uuid::new_v4(), lanes);
            assert_ne!(a, b);
            assert!(a < lanes && b < lanes);
            per_lane[a] += 1;
            per_lane[b] += 1;
        }
        // Each lane serves about 2/8 of 8,000 tenants (2,000); allow for chance.
        for count in per_lane {
            assert!((1_700..2_300).contains(&count), "lane load {count}");
        }
        let tenant = Uuid::new_v4();
        assert_eq!(
            lane_pair(tenant, lanes),
            lane_pair(tenant, lanes),
            "fixed per tenant"
        );
        assert_eq!(lane_pair(tenant, 1), (0, 0));
    }

    /// A tenant's work goes to the less loaded of its two lanes, and leaves them only for a
    /// free connection or a queue shorter by a lane's worth.
    #[tokio::test]
    async fn work_goes_to_the_less_loaded_of_two_lanes_and_leaves_them_only_to_avoid_a_long_wait() {
        // Lazy pools: nothing connects, only the choice is under test.
        let lanes = Lanes::connect("postgres://nobody@127.0.0.1:1/none", LaneShape::new(8, 4))
            .await
            .expect("lazy pools");
        assert_eq!((lanes.lanes.len(), lanes.per_lane), (4, 2));
        let tenant = Uuid::new_v4();
        let (a, b) = lane_pair(tenant, 4);
        let lane_of = |ticket: &LaneTicket| {
            let load = ticket.0.as_ref().expect("a lane");
            lanes
                .lanes
                .iter()
                .position(|l| Arc::ptr_eq(&l.load, load))
                .expect("one of the lanes")
        };
        let mut held = Vec::new();
        for expected in [a, b, a, b] {
            let (_, ticket) = lanes.for_tenant(tenant);
            assert_eq!(lane_of(&ticket), expected);
            held.push(ticket);
        }
        // Both of its lanes now hold two units of work, their connection count.
        let (_, borrowed) = lanes.for_tenant(tenant);
        let other = lane_of(&borrowed);
        assert!(other != a && other != b, "borrowed a free lane");
        held.push(borrowed);
        // Fill every lane to its connection count: all work waits now, and an even wait
        // keeps the tenant on its own lanes.
        for (i, lane) in lanes.lanes.iter().enumerate() {
            while lane.load.load(Ordering::Relaxed) < 2 {
                lane.load.fetch_add(1, Ordering::Relaxed);
                held.push(LaneTicket(Some(lanes.lanes[i].load.clone())));
            }
        }
        let (_, waiting) = lanes.for_tenant(tenant);
        assert!([a, b].contains(&lane_of(&waiting)), "stays on its lanes");
        held.push(waiting);
        // Its lanes' queues grow a lane's worth longer than the shortest: the work moves.
        // (own lanes 3 and 2 after the wait above; four more bring both to 4 = 2 + 2)
        for _ in 0..3 {
            let (_, ticket) = lanes.for_tenant(tenant);
            assert!(
                [a, b].contains(&lane_of(&ticket)),
                "still within a lane's worth"
            );
            held.push(ticket);
        }
        let (_, moved) = lanes.for_tenant(tenant);
        assert!(![a, b].contains(&lane_of(&moved)), "moved off a long queue");
        held.push(moved);
        held.clear();
        for lane in &lanes.lanes {
            assert_eq!(lane.load.load(Ordering::Relaxed), 0, "tickets given back");
        }
        let (_, ticket) = lanes.for_tenant(tenant);
        assert_eq!(
            lane_of(&ticket),
            a,
            "back on its own lanes once they are free"
        );
    }

    #[test]
    fn lane_shape_keeps_two_connections_per_lane() {
        let shape = LaneShape::new(32, 16);
        assert_eq!((shape.lanes, shape.per_lane), (16, 2));
        let shape = LaneShape::new(32, 8);
        assert_eq!((shape.lanes, shape.per_lane), (8, 4));
        let shape = LaneShape::new(8, 8);
        assert_eq!((shape.lanes, shape.per_lane), (4, 2));
        let shape = LaneShape::new(1, 8);
        assert_eq!((shape.lanes, shape.per_lane), (1, 1));
        assert_eq!(LaneShape::control_connections(32), 4);
        assert_eq!(LaneShape::control_connections(8), 2);
    }
}
