//! How the backup walker treats each directory of a source, by layout: which entries are
//! tenants, which are TSDB blocks (judged whole), which are regenerated bookkeeping never
//! archived, and in which order a directory's entries are read.

use super::{loki, tsdb, Layout};

/// What a directory is, in the source's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Role {
    Plain,
    /// Mimir bucket root: each subdirectory is a tenant.
    TsdbRoot,
    /// Holds blocks (a Mimir tenant, or a Prometheus/Thanos root with tenant `""`).
    Tenant(String),
    /// Loki bucket root: `index/` is read before the chunk directories.
    LokiRoot,
}

/// What one entry of a directory is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Child {
    /// An ordinary entry; if it is a directory, it has this role.
    Entry(Role),
    /// Regenerated bookkeeping (`markers/`, `bucket-index.json.gz`): never archived.
    Bookkeeping,
    /// A TSDB block directory: archived whole when complete, else left out and reported.
    Block { tenant: String, ulid: String },
}

impl Role {
    pub fn for_layout(l: Layout) -> Role {
        match l {
            Layout::Files => Role::Plain,
            Layout::Mimir => Role::TsdbRoot,
            Layout::Prometheus => Role::Tenant(String::new()),
            Layout::Loki => Role::LokiRoot,
        }
    }

    /// Judge an entry of a directory with this role by its name and, where that matters,
    /// whether it is a directory (`is_dir` is asked only then: it may cost a `stat`).
    pub fn child(&self, name: &[u8], is_dir: impl Fn() -> bool) -> Child {
        match self {
            Role::TsdbRoot if is_dir() => Child::Entry(Role::Tenant(String::from_utf8_lossy(name).into_owned())),
            Role::Tenant(tenant) => {
                if name == tsdb::MARKERS_DIR.as_bytes() || tsdb::BUCKET_INDEX.iter().any(|b| name == b.as_bytes()) {
                    Child::Bookkeeping
                } else if tsdb::is_ulid(name) && is_dir() {
                    Child::Block { tenant: tenant.clone(), ulid: String::from_utf8_lossy(name).into_owned() }
                } else {
                    Child::Entry(Role::Plain)
                }
            }
            _ => Child::Entry(Role::Plain),
        }
    }

    /// The order in which a directory's entries (given in name order) are read. Loki's
    /// `index/` comes first: a chunk is uploaded before any index that references it, so
    /// every chunk a captured index names is captured too.
    pub fn visit_order(&self, names: &[&[u8]]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..names.len()).collect();
        if *self == Role::LokiRoot {
            order.sort_by_key(|&i| names[i] != loki::INDEX_DIR);
        }
        order
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_blocks_and_bookkeeping() {
        let root = Role::for_layout(Layout::Mimir);
        assert_eq!(root.child(b"anonymous", || true), Child::Entry(Role::Tenant("anonymous".into())));
        assert_eq!(root.child(b"README", || false), Child::Entry(Role::Plain));
        let t = Role::Tenant("anonymous".into());
        let ulid = b"01JDEMA0000000000000000000";
        let block = Child::Block { tenant: "anonymous".into(), ulid: "01JDEMA0000000000000000000".into() };
        assert_eq!(t.child(ulid, || true), block);
        assert_eq!(t.child(ulid, || false), Child::Entry(Role::Plain));
        assert_eq!(t.child(b"markers", || true), Child::Bookkeeping);
        assert_eq!(t.child(b"bucket-index.json.gz", || false), Child::Bookkeeping);
        // Plain entries never cost a stat.
        assert_eq!(Role::Plain.child(b"x", || unreachable!()), Child::Entry(Role::Plain));
        let loki = Role::for_layout(Layout::Loki);
        assert_eq!(loki.visit_order(&[b"fake", b"index", b"loki_cluster_seed.json"]), [1, 0, 2]);
    }
}
