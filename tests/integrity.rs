//! Damage is contained, named in the user's terms, repaired, and never blocks the rest:
//! a bit flipped in each kind of repository file, truncated, missing and swapped packs, a
//! missing index file, a snapshot replaced by another's bytes, a TSDB chunk damaged
//! before the backup. For each: what is reported (files, blocks, snapshots), that nothing
//! intact is reported, that every intact file restores, and that no damaged byte is ever
//! left under a final name.

use crate::common::tsdb::*;
use crate::common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Two backups of six files (one changes in between): two snapshots, two index files.
struct Damage {
    env: Env,
    src: PathBuf,
    /// Snapshot ids, oldest first.
    snaps: Vec<String>,
}

fn files(day: u64) -> BTreeMap<String, Vec<u8>> {
    (0..6u64)
        .map(|i| {
            let seed = if i == 5 { 100 + day } else { i };
            (format!("d{}/f{i}", i % 2), pseudo_random(200_000 + i as usize * 1000, seed))
        })
        .collect()
}

fn write(dir: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (p, b) in files {
        fs::create_dir_all(dir.join(p).parent().unwrap()).unwrap();
        fs::write(dir.join(p), b).unwrap();
    }
}

fn setup() -> Damage {
    let env = Env::with_init_args(&["--pack-size", "1M"]);
    let src = env.path("src");
    let mut snaps = vec![];
    for day in 0..2 {
        write(&src, &files(day));
        snaps.push(env.backup(&[src.to_str().unwrap()])["snapshot_id"].as_str().unwrap().to_string());
    }
    Damage { env, src, snaps }
}

impl Damage {
    fn check(&self, args: &[&str]) -> (i32, Value, String) {
        let mut a = vec!["check", "--json"];
        a.extend_from_slice(args);
        let (code, out, err) = self.env.run(&a);
        (code, serde_json::from_str(out.lines().last().unwrap_or("null")).unwrap(), err)
    }

    /// Restore `snap` into a fresh directory; returns (exit code, report, target).
    fn restore(&self, snap: &str) -> (i32, Value, PathBuf) {
        let t = self.env.path(&format!("restore-{}", rand_name()));
        let (code, out, err) = self.env.run(&["restore", snap, "--json", "--target", t.to_str().unwrap()]);
        let v: Value = serde_json::from_str(out.lines().last().unwrap_or("null")).unwrap_or(Value::Null);
        assert!(code == 0 || code == 3, "restore exit {code}: {err}");
        (code, v, t)
    }

    /// The snapshot path of file `rel` and its first blob.
    fn blob_of(&self, snap: &str, rel: &str) -> cellar::Id {
        let repo = open_lib(&self.env.repo);
        let (_, s) = repo.resolve_snapshot(snap).unwrap();
        cellar::vfs::lookup(&repo, &s, &format!("src/{rel}")).unwrap().content[0]
    }
}

fn rand_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    N.fetch_add(1, Ordering::Relaxed).to_string()
}

/// Every file under `dir` (relative path → bytes), temporaries included, so that a damaged
/// byte under any name would be seen.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(dir)
        .into_iter()
        .map(|p| (p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(), fs::read(&p).unwrap()))
        .collect()
}

/// The restore holds exactly the expected files minus `lost`, byte for byte.
fn assert_restored(target: &Path, expected: &BTreeMap<String, Vec<u8>>, lost: &[&str]) {
    let got = tree(&target.join("src"));
    let want: BTreeMap<String, Vec<u8>> =
        expected.iter().filter(|(k, _)| !lost.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(got.keys().collect::<Vec<_>>(), want.keys().collect::<Vec<_>>(), "restored names");
    assert!(got == want, "a restored file differs from the backup");
}

fn damaged_paths(check: &Value) -> Vec<(String, Vec<String>)> {
    check["damaged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let files = d["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect();
            (d["id"].as_str().unwrap().to_string(), files)
        })
        .collect()
}

fn flip(path: &Path, at: usize) {
    let mut b = fs::read(path).unwrap();
    let at = at.min(b.len() - 1);
    b[at] ^= 0x04;
    fs::write(path, b).unwrap();
}

#[test]
fn a_damaged_blob_is_named_by_snapshot_and_file_and_the_rest_restores() {
    let d = setup();
    let blob = d.blob_of(&d.snaps[1], "d0/f2");
    damage_blob(&d.env.repo, &open_lib(&d.env.repo), &blob);

    // Without reading data the damage is invisible; with it, it is named in user terms.
    assert_eq!(d.check(&[]).0, 0);
    let (code, r, _) = d.check(&["--read-data"]);
    assert_eq!(code, 1);
    let mut damaged = damaged_paths(&r);
    damaged.sort();
    let mut want: Vec<(String, Vec<String>)> =
        d.snaps.iter().map(|s| (s.clone(), vec!["src/d0/f2".to_string()])).collect();
    want.sort();
    assert_eq!(damaged, want, "both snapshots hold the file, and nothing else is reported");
    assert!(r["intact"].as_array().unwrap().is_empty());

    // Every other file restores; the damaged one is not left under any name.
    let (code, rep, t) = d.restore("latest");
    assert_eq!(code, 3);
    assert_restored(&t, &files(1), &["d0/f2"]);
    assert!(files_under(&t).iter().all(|p| !p.to_string_lossy().contains("cellar-tmp")), "temporaries left");
    let dm = &rep["damaged"][0];
    assert_eq!(dm["path"], "src/d0/f2");
    assert_eq!(dm["blob"], blob.to_hex());
    assert!(dm["pack"].is_string(), "{dm}");

    // repair snapshots: new snapshots without the file, originals kept.
    let (code, out, err) = d.env.run(&["repair", "snapshots", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["repaired"].as_array().unwrap().len(), 2, "{rep}");
    let new = rep["repaired"].as_array().unwrap().iter().find(|s| s["original"] == d.snaps[1].as_str()).unwrap();
    assert_eq!(new["dropped"], serde_json::json!(["src/d0/f2"]));
    let (code, _, t) = d.restore(new["repaired"].as_str().unwrap());
    assert_eq!(code, 0, "the repaired snapshot restores whole");
    assert_restored(&t, &files(1), &["d0/f2"]);

    // A backup of the same data stores the damaged blob again: the originals heal too.
    write(&d.src, &files(1));
    d.env.backup(&[d.src.to_str().unwrap()]);
    let (code, _, t) = d.restore(&d.snaps[1]);
    assert_eq!(code, 0, "healed by the later backup");
    assert_restored(&t, &files(1), &[]);
    let (_, r, _) = d.check(&["--read-data"]);
    assert!(r["damaged"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
fn a_damaged_snapshot_file_is_skipped_by_every_command_and_prune_refuses_until_it_is_forgotten() {
    let d = setup();
    let old = d.env.repo.join("snapshots").join(&d.snaps[0]);
    flip(&old, 40);
    let (code, out, err) = d.env.run(&["snapshots"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("skipping snapshots/{}", d.snaps[0])), "{err}");
    assert!(out.contains(&d.snaps[1][..8]) && !out.contains(&d.snaps[0][..8]), "{out}");
    let (code, _, t) = d.restore("latest");
    assert_eq!(code, 0);
    assert_restored(&t, &files(1), &[]);
    d.env.backup(&[d.src.to_str().unwrap()]);
    let (code, r, _) = d.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(r["damaged_files"][0]["id"], d.snaps[0].as_str());
    assert_eq!(r["intact"].as_array().unwrap().len(), 2, "{r}");
    let (code, _, err) = d.env.run(&["prune", "--grace", "0s"]);
    assert_eq!(code, 1);
    assert!(err.contains("refusing to prune") && err.contains(&format!("cellar forget {}", &d.snaps[0][..8])), "{err}");
    d.env.ok(&["forget", &d.snaps[0][..8]]);
    d.env.ok(&["prune", "--grace", "0s"]);
    assert_eq!(d.check(&["--read-data"]).0, 0);
}

#[test]
fn a_snapshot_replaced_by_another_ones_bytes_is_damage() {
    let d = setup();
    let dir = d.env.repo.join("snapshots");
    fs::copy(dir.join(&d.snaps[0]), dir.join(&d.snaps[1])).unwrap();
    let (code, _, err) = d.env.run(&["snapshots"]);
    assert_eq!(code, 0);
    assert!(err.contains(&format!("snapshots/{}", d.snaps[1])) && err.contains("content hash"), "{err}");
    let (code, r, _) = d.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(r["damaged_files"][0]["id"], d.snaps[1].as_str());
}

#[test]
fn a_damaged_index_file_hides_only_its_own_entries_and_repair_rebuilds_it() {
    let d = setup();
    // The second backup's index file names only the packs of the changed file.
    let newest = files_under(&d.env.repo.join("index"))
        .into_iter()
        .max_by_key(|p| fs::metadata(p).unwrap().modified().unwrap())
        .unwrap();
    flip(&newest, 60);
    // The first snapshot's data is indexed by the intact file: it restores.
    let (code, _, t) = d.restore(&d.snaps[0]);
    assert_eq!(code, 0);
    assert_restored(&t, &files(0), &[]);
    let (code, r, _) = d.check(&[]);
    assert_eq!(code, 1);
    assert_eq!(r["damaged_files"][0]["id"].as_str().unwrap(), newest.file_name().unwrap().to_str().unwrap());
    assert_eq!(r["intact"], serde_json::json!([d.snaps[0]]), "{r}");
    // Backups keep working beside it; prune refuses to delete what it cannot account for.
    d.env.backup(&[d.src.to_str().unwrap()]);
    let (code, _, err) = d.env.run(&["prune", "--grace", "0s"]);
    assert_eq!(code, 1);
    assert!(err.contains("cellar repair index"), "{err}");
    d.env.ok(&["repair", "index"]);
    let (code, _, err) = d.env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{err}");
    for (s, want) in [(&d.snaps[0], files(0)), (&d.snaps[1], files(1))] {
        let (code, _, t) = d.restore(s);
        assert_eq!(code, 0);
        assert_restored(&t, &want, &[]);
    }
    d.env.ok(&["prune", "--grace", "0s"]);
}

#[test]
fn a_missing_index_file_is_rebuilt_from_the_packs_headers() {
    let d = setup();
    for f in files_under(&d.env.repo.join("index")) {
        fs::remove_file(f).unwrap();
    }
    let (code, r, _) = d.check(&[]);
    assert_eq!(code, 1, "every blob is missing: {r}");
    assert_eq!(r["damaged"].as_array().unwrap().len(), 2);
    let (code, out, err) = d.env.run(&["repair", "index", "--json"]);
    assert_eq!(code, 0, "{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert!(rep["packs_from_headers"].as_u64().unwrap() >= 2, "{rep}");
    let (code, _, err) = d.env.run(&["check", "--read-data"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, t) = d.restore("latest");
    assert_eq!(code, 0);
    assert_restored(&t, &files(1), &[]);
}

#[test]
fn missing_truncated_and_swapped_packs_cost_exactly_their_files() {
    for case in ["missing", "truncated", "swapped"] {
        let d = setup();
        let repo = open_lib(&d.env.repo);
        let (pack, _) = repo.locate(&d.blob_of(&d.snaps[1], "d1/f5")).unwrap();
        let path = d.env.repo.join(cellar::repo::file::FileType::Pack.name(&pack));
        // The files whose data is in that pack.
        let (_, s) = repo.resolve_snapshot(&d.snaps[1]).unwrap();
        let mut lost: Vec<String> = vec![];
        for (rel, _) in files(1) {
            let n = cellar::vfs::lookup(&repo, &s, &format!("src/{rel}")).unwrap();
            if n.content.iter().any(|b| repo.locate(b).unwrap().0 == pack) {
                lost.push(rel);
            }
        }
        assert!(!lost.is_empty() && lost.len() < 6, "{case}: {lost:?}");
        match case {
            "missing" => fs::remove_file(&path).unwrap(),
            "truncated" => {
                let b = fs::read(&path).unwrap();
                fs::write(&path, &b[..b.len() / 2]).unwrap();
            }
            _ => {
                // Another data pack (a metadata pack would take whole trees with it).
                let (o, _) = repo.locate(&d.blob_of(&d.snaps[0], "d0/f0")).unwrap();
                assert_ne!(o, pack);
                let other = d.env.repo.join(cellar::repo::file::FileType::Pack.name(&o));
                let (a, b) = (fs::read(&path).unwrap(), fs::read(&other).unwrap());
                fs::write(&path, b).unwrap();
                fs::write(&other, a).unwrap();
            }
        }
        let (code, r, _) = d.check(&["--read-data"]);
        assert_eq!(code, 1, "{case}");
        let latest = damaged_paths(&r).into_iter().find(|(id, _)| *id == d.snaps[1]).map(|(_, f)| f);
        let mut want: Vec<String> = lost.iter().map(|l| format!("src/{l}")).collect();
        want.sort();
        if case == "swapped" {
            // The other pack's files are lost too; these are among them.
            assert!(want.iter().all(|w| latest.as_ref().unwrap().contains(w)), "{case}: {r}");
        } else {
            assert_eq!(latest, Some(want), "{case}: exactly the files in the pack: {r}");
        }
        let (code, _, t) = d.restore("latest");
        assert_eq!(code, 3, "{case}");
        let lost_refs: Vec<&str> = lost.iter().map(String::as_str).collect();
        let got = tree(&t.join("src"));
        for (rel, bytes) in files(1) {
            match got.get(&rel) {
                Some(b) => assert_eq!(*b, bytes, "{case}: {rel} restored wrong"),
                None => assert!(case == "swapped" || lost_refs.contains(&rel.as_str()), "{case}: {rel} missing"),
            }
        }
        assert!(got.keys().all(|k| files(1).contains_key(k)), "{case}: stray files {got:?}");
    }
}

#[test]
fn one_damaged_key_file_locks_out_no_one_else() {
    let d = setup();
    let pw2 = d.env.path("pw2");
    fs::write(&pw2, "second password").unwrap();
    d.env.ok(&[
        "key",
        "add",
        "--new-password-file",
        pw2.to_str().unwrap(),
        "--kdf-memory-kib",
        "256",
        "--kdf-passes",
        "1",
    ]);
    let keys: Value = serde_json::from_str(&d.env.ok(&["key", "list", "--json"])).unwrap();
    let first =
        keys.as_array().unwrap().iter().find(|k| k["current"] == true).unwrap()["id"].as_str().unwrap().to_string();
    flip(&d.env.repo.join("keys").join(&first), 100);
    let out = d.env.cmd().env("CELLAR_PASSWORD", "second password").args(["snapshots"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, _, err) = d.env.run(&["snapshots"]);
    assert_eq!(code, 1);
    assert!(err.contains("wrong password") && err.contains(&format!("keys/{first}")), "{err}");
}

#[test]
fn damage_to_the_config_is_named_and_its_id_is_authenticated() {
    for (what, mutate) in [("id", 0usize), ("settings", 1)] {
        let d = setup();
        let p = d.env.repo.join("config");
        let mut c: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
        let field = if mutate == 0 { "id" } else { "settings" };
        let mut s = c[field].as_str().unwrap().to_string();
        let ch = if s.as_bytes()[10] == b'a' { "b" } else { "a" };
        s.replace_range(10..11, ch);
        c[field] = Value::String(s);
        fs::write(&p, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
        let (code, _, err) = d.env.run(&["snapshots"]);
        assert_eq!(code, 1, "{what}");
        assert!(err.contains("integrity error: config"), "{what}: {err}");
    }
}

#[test]
fn check_read_data_subsets_cover_every_pack_and_max_age_skips_recent_ones() {
    let d = setup();
    let packs = files_under(&d.env.repo.join("data")).len() as u64;
    let mut read = 0;
    for n in 1..=3 {
        let (code, r, _) = d.check(&["--read-data-subset", &format!("{n}/3")]);
        assert_eq!(code, 0);
        read += r["packs_read"].as_u64().unwrap();
    }
    assert_eq!(read, packs, "the three slices read every pack once");
    let (_, r, _) = d.check(&["--read-data", "--max-age", "30d"]);
    assert_eq!((r["packs_read"].as_u64(), r["packs_recently_verified"].as_u64()), (Some(0), Some(packs)));
    let (_, r, _) = d.check(&["--read-data-subset", "100%"]);
    assert_eq!(r["packs_read"].as_u64(), Some(packs));
    // Damage a pack verified a moment ago: --max-age trusts the recent verification,
    // a full read finds it.
    let blob = d.blob_of(&d.snaps[0], "d0/f0");
    damage_blob(&d.env.repo, &open_lib(&d.env.repo), &blob);
    assert_eq!(d.check(&["--read-data", "--max-age", "30d"]).0, 0);
    assert_eq!(d.check(&["--read-data"]).0, 1);
}

#[test]
fn a_tsdb_block_that_loses_a_file_is_restored_without_its_meta_json() {
    let env = Env::new();
    let b = bucket();
    env.ok(&["backup", "--allow-corrupted", b.to_str().unwrap()]);
    let repo = open_lib(&env.repo);
    let (_, snap) = repo.resolve_snapshot("latest").unwrap();
    let blocks = cellar::vfs::blocks(&repo, &snap).unwrap();
    let victim = blocks.iter().find(|b| b.tenant == "anonymous").unwrap();
    let chunks = cellar::vfs::lookup(&repo, &snap, &format!("{}/chunks/000001", victim.path)).unwrap();
    damage_blob(&env.repo, &repo, chunks.content.last().unwrap());

    let (code, out, err) = env.run(&["check", "--read-data", "--json"]);
    assert_eq!(code, 1, "{err}");
    let r: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let d = &r["damaged"][0];
    assert_eq!(d["tenants"], serde_json::json!(["anonymous"]));
    // Replicas share chunk records (stored once), so the blob may cost several blocks.
    let lost: Vec<&Value> = d["blocks"].as_array().unwrap().iter().collect();
    assert!(lost.iter().any(|b| b["ulid"] == victim.ulid.as_str()), "{d}");
    assert!(lost.iter().all(|b| b["files"] == serde_json::json!(["chunks/000001"])), "{d}");
    assert!(d["files"].as_array().unwrap().is_empty(), "{d}");

    let target = env.path("restored");
    let (code, out, err) = env.run(&["restore", "latest", "--json", "--target", target.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    let rep: Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let withheld: Vec<String> = lost.iter().map(|b| format!("{}/meta.json", b["path"].as_str().unwrap())).collect();
    assert_eq!(rep["withheld"], serde_json::json!(withheld));
    let tenant = target.join("mimir").join("anonymous");
    assert!(!target.join(&victim.path).join("meta.json").exists(), "a block with holes must not look complete");
    let mut want = complete_blocks(b)["anonymous"].clone();
    for l in &lost {
        want.remove(l["ulid"].as_str().unwrap());
    }
    assert_eq!(promtool_list(&tenant), want, "every other block restores and Prometheus reads it");
}

#[test]
fn a_tsdb_chunk_damaged_before_the_backup_is_found_by_verify_blocks() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let b = work.path().join("mimir");
    copy_dir(bucket(), &b);
    let victim = complete_blocks(&b)["anonymous"].iter().next().unwrap().clone();
    let chunk = b.join("anonymous").join(&victim).join("chunks/000001");
    flip(&chunk, 200);
    env.ok(&["backup", "--allow-corrupted", b.to_str().unwrap()]);
    // The archive is intact: it holds exactly the damaged bytes.
    assert_eq!(env.run(&["check", "--read-data"]).0, 0);
    let (code, out, _) = env.run(&["verify-blocks", "latest", "--json"]);
    assert_eq!(code, 1);
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["bad"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["bad"][0]["ulid"], victim.as_str());
    assert!(r["bad"][0]["problems"][0].as_str().unwrap().contains("chunks/000001: chunk at"), "{r}");
    let (code, out, _) = env.run(&["check", "--verify-blocks", "--json"]);
    assert_eq!(code, 1);
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(c["bad_blocks"][0]["ulid"], victim.as_str());
    assert!(c["blocks_verified"].as_u64().unwrap() > 1);
}

/// A flipped bit in a pack's header costs no data (blobs are read at the offsets the
/// index gives): the pack is named, no snapshot is reported damaged, everything restores.
#[test]
fn a_damaged_pack_header_is_named_and_costs_no_file() {
    let d = setup();
    let repo = open_lib(&d.env.repo);
    let (pack, _) = repo.locate(&d.blob_of(&d.snaps[1], "d1/f5")).unwrap();
    let path = d.env.repo.join(cellar::repo::file::FileType::Pack.name(&pack));
    let len = fs::metadata(&path).unwrap().len() as usize;
    flip(&path, len - 20);
    let (code, r, _) = d.check(&["--read-data"]);
    assert_eq!(code, 1);
    assert!(
        r["errors"].as_array().unwrap().iter().any(|e| e.as_str().unwrap().contains(&format!("pack {pack}"))),
        "{r}"
    );
    assert!(r["damaged"].as_array().unwrap().is_empty(), "no file is lost: {r}");
    assert_eq!(r["intact"].as_array().unwrap().len(), 2);
    let (code, _, t) = d.restore("latest");
    assert_eq!(code, 0);
    assert_restored(&t, &files(1), &[]);
}
