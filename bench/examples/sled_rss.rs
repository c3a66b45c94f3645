//! sled 0.34 keeps every page it reads resident, whatever its cache
//! capacity (spacejam/sled#1036); reopening the handle lets go of them.
//! Walks a ledger's sled tree, reopening every N MiB (0: never), and
//! prints the peak RSS: `sled_rss <ledger dir> <N>`. Why the ledger
//! reopens its handle (`LedgerConfig::sled_reopen_bytes`).

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let every: u64 = std::env::args().nth(2).unwrap().parse::<u64>().unwrap() << 20;
    let open = || {
        let db = sled::Config::new().path(&path).cache_capacity(64 << 20).open().unwrap();
        let tree = db.open_tree("ledger").unwrap();
        (db, tree)
    };
    let (mut db, mut tree) = open();
    let mut n = 0u64;
    let mut bytes = 0u64;
    let mut since = 0u64;
    let mut reopens = 0;
    let mut last: Option<sled::IVec> = None;
    let t = std::time::Instant::now();
    loop {
        let iter = match &last {
            None => tree.range::<&[u8], _>(..),
            Some(k) => tree.range((std::ops::Bound::Excluded(k.clone()), std::ops::Bound::Unbounded)),
        };
        let mut done = true;
        for item in iter {
            let (k, v) = item.unwrap();
            n += 1;
            bytes += v.len() as u64;
            since += v.len() as u64;
            last = Some(k);
            if every > 0 && since > every {
                done = false;
                break;
            }
        }
        if done {
            break;
        }
        since = 0;
        reopens += 1;
        drop(tree);
        drop(db);
        loop {
            match sled::Config::new().path(&path).cache_capacity(64 << 20).open() {
                Ok(d) => {
                    db = d;
                    break;
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        tree = db.open_tree("ledger").unwrap();
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    for line in status.lines().filter(|l| l.starts_with("VmHWM") || l.starts_with("VmRSS")) {
        eprintln!("{line}");
    }
    eprintln!("{n} items, {bytes} bytes, {reopens} reopens, {:?}", t.elapsed());
}
