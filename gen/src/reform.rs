//! The reform scenario: the Jiaxing Nanhu sub-bureau 2013–2016, the Pujiang
//! county bureau 2015–2016 and the provincial department's own mergers of
//! 2016-12-01, built from `shared/DOMAIN.md`. What the article gives (unit
//! names, 32 → 9, the supervision centre's 8 sources and 5 sub-units, the
//! criminal bureau's 3 rooms and 7 teams, 70 community offices with one
//! officer each, 4 area teams and an anti-gang team covering 2–4 stations
//! each, 89 of 267 office police moved down including every male
//! non-leading officer aged 50 or over, Pujiang 26 → 8 and −23.2%) is
//! written here as structure; everything else (staff ids, personal data,
//! unit sizes, days, stations, the audit's trick cases) is drawn from the
//! seed. `ops/scenarios/reform/README.md` says which is which.

use crate::org::{day, days_after, Hire, Org, Person, Stays};
use crate::plan::{publish_order, Act};
use crate::rng::Rng;
use muster_domain::Date;
use muster_proto::wire::{Envelope, NewUnit, WireCategory};
use std::collections::{BTreeMap, BTreeSet};

use WireCategory::{FrontLine as FRONT, Office as OFFICE};

/// The seed the shipped files were generated with.
pub const DEFAULT_SEED: u64 = 20_130_401;

/// Nanhu: the audit runs from the start of 2013 (before step 1) to the
/// provincial roll-out.
pub const NANHU_FROM: &str = "2013-01-01";
/// Pujiang: from the start of the pilot.
pub const PUJIANG_FROM: &str = "2015-09-01";
/// Both audits end on the day of the on-site meeting in Pujiang.
pub const AUDIT_TO: &str = "2016-12-01";
/// No event is planned after this day.
const END: &str = "2016-12-31";

/// The scenario: events in publishing order, and the HR master data.
pub struct Scenario {
    /// Every event, in the order the HR systems keyed them in.
    pub events: Vec<Envelope>,
    /// Everyone hired, by source and id.
    pub people: Vec<Person>,
}

/// Generates the scenario from `seed`.
pub fn generate(seed: u64) -> Scenario {
    let rng = Rng::new(seed);
    let nanhu = nanhu(Org::new(rng.fork("nanhu"), "hr/nanhu", "nanhu", "NH", "南湖公"));
    let pujiang = pujiang(Org::new(rng.fork("pujiang"), "hr/pujiang", "pujiang", "PJ", "浦公"));
    let province = province(Org::new(rng.fork("province"), "hr/zhejiang", "zhejiang", "ZJ", "浙公"));
    let orgs = [nanhu, pujiang, province];
    let plans: Vec<_> = orgs.iter().map(|o| o.plan.clone()).collect();
    Scenario { events: publish_order(&plans), people: orgs.iter().flat_map(|o| o.people.values().cloned()).collect() }
}

fn name(zh: &str, en: &str) -> String {
    format!("{zh} {en}")
}

fn new_unit(id: &str, zh: &str, en: &str, category: WireCategory, parent: Option<&str>) -> NewUnit {
    NewUnit { unit: id.into(), name: name(zh, en), category, parent: parent.map(Into::into) }
}

/// Units at start: id, Chinese name, English name, staff (incl. leaders),
/// the unit's merger group after the reform.
type UnitRow = (&'static str, &'static str, &'static str, u32);

/// Nanhu's 32 former internal units, grouped by the unit of the 9 each went
/// into. Sizes are generated (they add up to the 267 office police, with
/// the two office sub-units below): only the names and groups are the
/// article's.
const NANHU_SUPERVISION: [UnitRow; 8] = [
    ("NH-LEGAL", "法制大队", "Legal affairs brigade", 10),
    ("NH-INSP", "警务督察大队", "Inspection brigade", 8),
    ("NH-SUPV", "监察室", "Supervision office", 5),
    ("NH-AUDIT", "审计室", "Audit office", 5),
    ("NH-PETITION", "信访室", "Petitions office", 5),
    ("NH-POLL", "民调中心", "Public opinion survey centre", 4),
    ("NH-ASSESS", "考核办", "Assessment office", 4),
    ("NH-REVIEW", "行政复议办公室", "Administrative review office", 3),
];
const NANHU_POLITICAL: [UnitRow; 4] = [
    ("NH-POLWORK", "政工室", "Political work office", 6),
    ("NH-PERSONNEL", "组织人事科", "Personnel section", 5),
    ("NH-PUBLICITY", "宣传科", "Publicity section", 4),
    ("NH-TRAINING", "教育训练科", "Training section", 5),
];
const NANHU_COMMAND: [UnitRow; 4] = [
    ("NH-GENOFF", "办公室", "General office", 10),
    ("NH-COMMAND", "指挥中心", "Command centre", 16),
    ("NH-INTEL", "情报信息中心", "Intelligence centre", 9),
    ("NH-ITECH", "科技信息科", "Information technology section", 6),
];
const NANHU_LOGISTICS: [UnitRow; 2] = [
    ("NH-EQUIP", "装备财务科", "Equipment and finance section", 7),
    ("NH-SERVICES", "后勤服务中心", "Services centre", 6),
];
const NANHU_DOMESTIC: [UnitRow; 2] = [
    ("NH-DOMSEC", "国内安全保卫大队", "Domestic security brigade", 8),
    ("NH-ANTICULT", "反邪教办公室", "Anti-cult office", 3),
];
const NANHU_CRIMINAL: [UnitRow; 6] = [
    ("NH-CRIM", "刑事侦查大队", "Criminal investigation brigade", 38),
    ("NH-ECON", "经济犯罪侦查大队", "Economic crime brigade", 12),
    ("NH-NARC", "禁毒大队", "Narcotics brigade", 8),
    ("NH-CYBER", "网络警察大队", "Cyber police brigade", 9),
    ("NH-FDE", "食品药品环境犯罪侦查大队", "Food, drug and environment crime brigade", 6),
    ("NH-TECHINV", "技术侦查大队", "Technical investigation brigade", 7),
];
const NANHU_ORDER: [UnitRow; 4] = [
    ("NH-ORDER", "治安大队", "Public order brigade", 16),
    ("NH-HUKOU", "户政科", "Household registration section", 6),
    ("NH-EXIT", "出入境管理科", "Exit and entry section", 5),
    ("NH-FIRE", "消防监督科", "Fire supervision section", 4),
];
const NANHU_TRAFFIC: UnitRow = ("NH-TRAFFIC", "交通警察大队", "Traffic police brigade", 15);
const NANHU_DETENTION: UnitRow = ("NH-DETENTION", "拘留所", "Detention house", 12);
/// Office sub-units: the vice and gambling squad of the public order
/// brigade (its criminal functions go to the criminal bureau) and the
/// traffic brigade's accident squad (relabelled front line in 2016).
const NANHU_VICE: UnitRow = ("NH-VICE", "打黄赌中队", "Vice and gambling squad", 6);
const NANHU_ACCIDENT: UnitRow = ("NH-ACCIDENT", "事故处理中队", "Accident handling squad", 6);

/// Nanhu's stations: the district's sub-districts and towns (the station
/// list and sizes are generated).
const NANHU_STATIONS: [(&str, &str); 11] = [
    ("建设", "Jianshe"),
    ("解放", "Jiefang"),
    ("新嘉", "Xinjia"),
    ("南湖", "Nanhu"),
    ("新兴", "Xinxing"),
    ("城南", "Chengnan"),
    ("东栅", "Dongzha"),
    ("长水", "Changshui"),
    ("七星", "Qixing"),
    ("大桥", "Daqiao"),
    ("余新", "Yuxin"),
];

/// Hires a unit's office staff like `base`: the first one (two from eight
/// staff) hold leading posts, aged 38–59; the others have `base.ages`.
fn staff_unit(org: &mut Org, unit: &str, size: u32, base: Hire, end: Date) {
    for i in 0..size {
        let leading = i == 0 || (i == 1 && size >= 8);
        let ages = if leading { (38, 59) } else { base.ages };
        org.hire(unit, Hire { leading, ages, ..base }, end);
    }
}

/// Office staff as of `as_of`, non-leading aged 24 to `oldest`.
fn office_staff(as_of: Date, earliest: Date, oldest: u64, stays: Stays) -> Hire {
    Hire { leading: false, as_of, earliest, stays, ages: (24, oldest), on: None }
}

fn quota_near(org: &mut Org, size: u32) -> Option<u32> {
    Some((size + org.rng.below(4) as u32).saturating_sub(2).max(1))
}

fn nanhu(mut org: Org) -> Org {
    let start = day("2005-05-01");
    let d1 = day(NANHU_FROM);
    let end = day(END);

    org.unit(start, "NH", &name("嘉兴市公安局南湖区分局", "Nanhu sub-bureau"), OFFICE, None, None);
    org.unit(start, "NH-HQ", &name("南湖分局机关", "Nanhu office (internal units)"), OFFICE, Some("NH"), None);
    let groups: [&[UnitRow]; 7] = [
        &NANHU_SUPERVISION,
        &NANHU_POLITICAL,
        &NANHU_COMMAND,
        &NANHU_LOGISTICS,
        &NANHU_DOMESTIC,
        &NANHU_CRIMINAL,
        &NANHU_ORDER,
    ];
    let mut office_units: Vec<(&str, u32)> = Vec::new();
    for (id, zh, en, size) in groups.iter().flat_map(|g| g.iter()).copied().chain([NANHU_TRAFFIC]) {
        let quota = quota_near(&mut org, size);
        org.unit(start, id, &name(zh, en), OFFICE, Some("NH-HQ"), quota);
        office_units.push((id, size));
    }
    let (id, zh, en, size) = NANHU_DETENTION;
    let quota = quota_near(&mut org, size);
    org.unit(start, id, &name(zh, en), FRONT, Some("NH-HQ"), quota);
    for ((id, zh, en, size), parent) in [(NANHU_VICE, "NH-ORDER"), (NANHU_ACCIDENT, "NH-TRAFFIC")] {
        org.unit(start, id, &name(zh, en), OFFICE, Some(parent), Some(size));
        office_units.push((id, size));
    }
    for n in 1..=4 {
        let zh = ["一", "二", "三", "四"][n - 1];
        org.unit(
            start,
            &format!("NH-TR{n}"),
            &name(&format!("交警{zh}中队"), &format!("Traffic squadron {n}")),
            FRONT,
            Some("NH-TRAFFIC"),
            Some(16),
        );
    }
    for (i, (zh, en)) in NANHU_STATIONS.iter().enumerate() {
        let station = format!("NH-PS{:02}", i + 1);
        org.unit(start, &station, &name(&format!("{zh}派出所"), &format!("{en} station")), FRONT, Some("NH"), Some(32));
        let squad = format!("{station}-CID");
        org.unit(
            start,
            &squad,
            &name(&format!("{zh}派出所刑侦中队"), &format!("{en} station criminal squad")),
            FRONT,
            Some(&station),
            Some(5),
        );
    }

    // Staff. Office first: their ids come first in the files.
    // Non-leading office men serve past the audit's end (the article: every
    // one of them aged 50+ moved down, so none retired first); women and
    // leaders retire when they reach the age, as they would. The audit
    // office (which gave up one of five) and the accident squad (relabelled,
    // nobody moved) have nobody over 49 in non-leading posts.
    for (unit, size) in &office_units {
        let oldest = if ["NH-AUDIT", "NH-ACCIDENT"].contains(unit) { 49 } else { 58 };
        staff_unit(&mut org, unit, *size, office_staff(d1, start, oldest, Stays::NonLeadingMenUntil(end)), end);
    }
    let front_units: Vec<(String, u32)> = (1..=11)
        .flat_map(|i| [(format!("NH-PS{i:02}"), 30), (format!("NH-PS{i:02}-CID"), 5)])
        .chain((1..=4).map(|n| (format!("NH-TR{n}"), 15)))
        .chain([(NANHU_DETENTION.0.to_string(), NANHU_DETENTION.3)])
        .collect();
    for (unit, size) in &front_units {
        for i in 0..*size {
            let leading = i == 0 || (i < 3 && *size >= 20);
            let hire = Hire { leading, as_of: d1, earliest: start, stays: Stays::Natural, ages: (23, 57), on: None };
            org.hire(unit, hire, end);
        }
    }
    // Who is who on D1.
    let serving = |p: &Person| p.retires > end;
    let office_on_d1: Vec<Person> =
        org.people.values().filter(|p| p.first_category == OFFICE && p.joined <= d1).cloned().collect();
    let fifty_plus: BTreeSet<String> =
        office_on_d1.iter().filter(|p| p.male_non_leading_50_plus(d1)).map(|p| p.id.clone()).collect();

    // The 89: twenty of the criminal brigade go with its area teams
    // (restructured); 69 are transferred. One of the audit office's five.
    let crim: Vec<&Person> =
        office_on_d1.iter().filter(|p| p.first_unit == "NH-CRIM" && !p.leading && serving(p)).collect();
    let mut restructured: Vec<String> =
        crim.iter().filter(|p| fifty_plus.contains(&p.id)).map(|p| p.id.clone()).collect();
    let mut others: Vec<String> = crim.iter().filter(|p| !fifty_plus.contains(&p.id)).map(|p| p.id.clone()).collect();
    org.rng.shuffle(&mut others);
    restructured.extend(others.into_iter().take(20usize.saturating_sub(restructured.len())));
    restructured.truncate(20);
    restructured.sort();
    let audit_office: Vec<&Person> = office_on_d1.iter().filter(|p| p.first_unit == "NH-AUDIT" && !p.leading).collect();
    let audit_mover =
        audit_office.iter().find(|p| serving(p)).map(|p| p.id.clone()).expect("the audit office has staff");
    let mut transferred: Vec<String> = fifty_plus.iter().filter(|id| !restructured.contains(id)).cloned().collect();
    if !transferred.contains(&audit_mover) {
        transferred.push(audit_mover.clone());
    }
    // Tricks come from the rest, then random movers fill up to 69.
    let mut pool: Vec<String> = office_on_d1
        .iter()
        .filter(|p| {
            !p.leading
                && serving(p)
                && !fifty_plus.contains(&p.id)
                && !restructured.contains(&p.id)
                && !transferred.contains(&p.id)
                && !["NH-AUDIT", "NH-ACCIDENT", "NH-CRIM"].contains(&p.first_unit.as_str())
        })
        .map(|p| p.id.clone())
        .collect();
    org.rng.shuffle(&mut pool);
    let paper: Vec<String> = pool.drain(..4).collect();
    let round_trip = pool.remove(0);
    let seconded_down: Vec<String> = pool.drain(..5).collect();
    assert!(transferred.len() <= 69, "seed: more than 69 men of 50+ to move");
    let fill = 69 - transferred.len();
    transferred.extend(pool.drain(..fill));
    org.rng.shuffle(&mut transferred);
    assert_eq!(restructured.len() + transferred.len(), 89, "the 89");

    // Step 1 (from April 2013): 70 community offices in three batches,
    // each with one dedicated officer: 30 from the office, 40 from the
    // stations.
    let batches = [(day("2013-04-15"), 24), (day("2013-10-15"), 24), (day("2014-04-15"), 22)];
    let per_station = [7, 7, 7, 7, 6, 6, 6, 6, 6, 6, 6];
    let mut offices: Vec<(String, String, String)> = Vec::new(); // (office, station, name)
    for (i, count) in per_station.iter().enumerate() {
        let (zh, en) = NANHU_STATIONS[i];
        for n in 1..=*count {
            offices.push((
                format!("NH-PS{:02}-C{n}", i + 1),
                format!("NH-PS{:02}", i + 1),
                name(&format!("{zh}第{n}社区警务室"), &format!("{en} community office {n}")),
            ));
        }
    }
    org.rng.shuffle(&mut offices);
    let mut from_office: Vec<String> = transferred.drain(..30).collect();
    let mut station_officers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in org.people.values() {
        if p.first_unit.len() == 7 && p.first_unit.starts_with("NH-PS") && !p.leading && serving(p) {
            station_officers.entry(p.first_unit.clone()).or_default().push(p.id.clone());
        }
    }
    for officers in station_officers.values_mut() {
        org.rng.shuffle(officers);
    }
    let mut mistake_done = false;
    let mut offices_left = offices.as_slice();
    for (batch, (date, count)) in batches.iter().enumerate() {
        let (now, rest) = offices_left.split_at(*count);
        offices_left = rest;
        for (office, station, office_name) in now {
            org.unit(*date, office, office_name, FRONT, Some(station), Some(1));
        }
        // Ten of each batch's officers come from the office.
        let mut slots: Vec<usize> = (0..now.len()).collect();
        org.rng.shuffle(&mut slots);
        let office_slots: BTreeSet<usize> = slots.into_iter().take(10).collect();
        for (k, (office, station, _)) in now.iter().enumerate() {
            let office_mover = office_slots.contains(&k);
            let officer = if office_mover {
                from_office.pop().expect("checked")
            } else {
                station_officers.get_mut(station).and_then(|v| v.pop()).expect("a station has officers")
            };
            if batch == 1 && !office_mover && !mistake_done {
                // Keyed to the wrong office, retracted two days later,
                // keyed again correctly (with its real date) the day after.
                mistake_done = true;
                let wrong =
                    now.iter().find(|(o, s, _)| s == station && o != office).unwrap_or(&now[(k + 1) % now.len()]);
                let t = org.ordered(*date, Act::MistakenTransfer { staff: officer.clone(), to: wrong.0.clone() });
                org.plan.add(
                    days_after(*date, 2),
                    Act::Retract { target: t, reason: "keyed to the wrong community office".into() },
                );
                let fix = org.ordered(*date, Act::Transfer { staff: officer.clone(), to: office.clone() });
                org.plan.key_in_late(fix, 3);
                continue;
            }
            org.ordered(*date, Act::Transfer { staff: officer, to: office.clone() });
        }
    }
    assert!(from_office.is_empty(), "every office mover got a community office");

    // Step 2 (March 2014): three tiers. The criminal brigade splits into
    // itself (a new unit), four area teams and the anti-gang team; twenty
    // of its officers go with the new teams. Each area team takes over the
    // criminal squads of 2–4 stations, renamed station squads (探组).
    let step2 = day("2014-03-01");
    let areas = ["NH-AREA1", "NH-AREA2", "NH-AREA3", "NH-AREA4"];
    let mut parts = vec![new_unit("NH-CRIM2", "刑事侦查大队", "Criminal investigation brigade", OFFICE, Some("NH-HQ"))];
    for (n, id) in areas.iter().enumerate() {
        let zh = ["一", "二", "三", "四"][n];
        parts.push(new_unit(
            id,
            &format!("片区刑侦{zh}队"),
            &format!("Area criminal team {}", n + 1),
            FRONT,
            Some("NH-HQ"),
        ));
    }
    parts.push(new_unit("NH-ANTIGANG", "打黑队", "Anti-gang team", FRONT, Some("NH-HQ")));
    let team_of: BTreeMap<String, String> = restructured
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), if i < 16 { areas[i / 4].to_string() } else { "NH-ANTIGANG".into() }))
        .collect();
    org.ordered(step2, Act::Split { source: "NH-CRIM".into(), parts, staff: team_of, default_part: "NH-CRIM2".into() });
    for team in areas.iter().chain(&["NH-ANTIGANG"]) {
        org.plan.add(step2, Act::Move { unit: team.to_string(), parent: Some("NH-CRIM2".into()) });
        org.plan.add(step2, Act::Quota { unit: team.to_string(), quota: 8 });
    }
    let coverage = [3, 3, 2, 3];
    let mut station = 0;
    for (n, covered) in coverage.iter().enumerate() {
        for _ in 0..*covered {
            station += 1;
            let (zh, en) = NANHU_STATIONS[station - 1];
            let squad = format!("NH-PS{station:02}-CID");
            org.plan.add(step2, Act::Move { unit: squad.clone(), parent: Some(areas[n].into()) });
            org.plan.add(
                step2,
                Act::Rename {
                    unit: squad,
                    name: name(&format!("{zh}派出所刑侦探组"), &format!("{en} station criminal cell")),
                },
            );
        }
    }

    // Step 3: the rest of the 89 (39) transferred down over 2013–2016: to
    // the traffic squadrons (24) and the area teams (15).
    for (i, staff) in transferred.iter().enumerate() {
        let (to, date) = if i < 24 {
            (format!("NH-TR{}", i % 4 + 1), org.rng.day(day("2013-05-01"), day("2016-10-31")))
        } else {
            (areas[i % 4].to_string(), org.rng.day(day("2014-03-02"), day("2016-10-31")))
        };
        let date = if i == 0 { day("2016-01-04") } else { date };
        let t = org.ordered(date, Act::Transfer { staff: staff.clone(), to });
        if i == 0 {
            // Decided in January, keyed in seven weeks later.
            org.plan.key_in_late(t, 49);
            org.plan.note(t, "order of 2016-01-04, keyed in late");
        }
    }

    // The 2015-09-01 pilot: 32 internal units become 9.
    let pilot = day("2015-09-01");
    org.unit(
        pilot,
        "NH-SUPERVISION",
        &name("执法执纪监督中心", "Law-enforcement and discipline supervision centre"),
        OFFICE,
        Some("NH-HQ"),
        None,
    );
    org.unit(pilot, "NH-CIB", &name("刑事犯罪侦查局", "Criminal investigation bureau"), OFFICE, Some("NH-HQ"), None);
    let sc = Some("NH-SUPERVISION");
    for (sources, target) in [
        (vec!["NH-SUPV", "NH-AUDIT"], new_unit("NH-SC-MON", "监察室", "Supervision office", OFFICE, sc)),
        (vec!["NH-PETITION", "NH-POLL"], new_unit("NH-SC-INTAKE", "受案室", "Case intake office", OFFICE, sc)),
        (vec!["NH-ASSESS"], new_unit("NH-SC-EVAL", "考评室", "Evaluation office", OFFICE, sc)),
        (vec!["NH-INSP"], new_unit("NH-SC-INSP", "督察队", "Inspection team", OFFICE, sc)),
        (vec!["NH-LEGAL", "NH-REVIEW"], new_unit("NH-SC-LEGAL", "法制队", "Legal team", OFFICE, sc)),
    ] {
        org.merge(pilot, &sources, target);
    }
    for team in areas.iter().chain(&["NH-ANTIGANG"]) {
        org.plan.add(pilot, Act::Move { unit: team.to_string(), parent: Some("NH-CIB".into()) });
    }
    let cib = Some("NH-CIB");
    let rooms = [
        new_unit("NH-CIB-GEN", "综合管理室", "General management room", OFFICE, cib),
        new_unit("NH-CIB-ANALYSIS", "专业研判室", "Analysis room", OFFICE, cib),
        new_unit("NH-CIB-FORENSIC", "刑事科学技术室", "Forensic science room", OFFICE, cib),
        new_unit("NH-CIB-MAJOR", "重案队", "Major crimes team", OFFICE, cib),
        new_unit("NH-CIB-PROPERTY", "侵财队", "Property crimes team", OFFICE, cib),
    ];
    org.ordered(
        pilot,
        Act::Split {
            source: "NH-CRIM2".into(),
            parts: rooms.to_vec(),
            staff: BTreeMap::new(),
            default_part: "NH-CIB-MAJOR".into(),
        },
    );
    for (sources, target) in [
        (vec!["NH-ECON"], new_unit("NH-CIB-ECON", "经侦队", "Economic crimes team", OFFICE, cib)),
        (vec!["NH-NARC"], new_unit("NH-CIB-NARC", "禁毒队", "Narcotics team", OFFICE, cib)),
        (
            vec!["NH-CYBER", "NH-TECHINV"],
            new_unit("NH-CIB-CYBER", "网络侦查队", "Cyber investigation team", OFFICE, cib),
        ),
        (vec!["NH-FDE"], new_unit("NH-CIB-FDE", "食药环侦查队", "Food, drug and environment team", OFFICE, cib)),
        (vec!["NH-VICE"], new_unit("NH-CIB-VICE", "治安刑事打击队", "Vice and gambling team", OFFICE, cib)),
    ] {
        org.merge(pilot, &sources, target);
    }
    let hq = Some("NH-HQ");
    for (sources, target) in [
        (
            vec!["NH-POLWORK", "NH-PERSONNEL", "NH-PUBLICITY", "NH-TRAINING"],
            new_unit("NH-POLITICAL", "政治处", "Political department", OFFICE, hq),
        ),
        (
            vec!["NH-GENOFF", "NH-COMMAND", "NH-INTEL", "NH-ITECH"],
            new_unit("NH-LINGCHU", "警令处", "Command department", OFFICE, hq),
        ),
        (vec!["NH-EQUIP", "NH-SERVICES"], new_unit("NH-LOGISTICS", "警务保障处", "Logistics department", OFFICE, hq)),
        (
            vec!["NH-DOMSEC", "NH-ANTICULT"],
            new_unit("NH-DSB", "国内安全保卫局", "Domestic security bureau", OFFICE, hq),
        ),
        (
            vec!["NH-ORDER", "NH-HUKOU", "NH-EXIT", "NH-FIRE"],
            new_unit("NH-POB", "治安管理局", "Public order bureau", OFFICE, hq),
        ),
        (vec!["NH-TRAFFIC"], new_unit("NH-TB", "交通管理局", "Traffic bureau", OFFICE, hq)),
    ] {
        org.merge(pilot, &sources, target);
    }
    // The reformed units' establishment: three quarters of who they took
    // in, the office being slimmed.
    for unit in [
        "NH-SC-MON",
        "NH-SC-INTAKE",
        "NH-SC-EVAL",
        "NH-SC-INSP",
        "NH-SC-LEGAL",
        "NH-CIB-GEN",
        "NH-CIB-ANALYSIS",
        "NH-CIB-FORENSIC",
        "NH-CIB-MAJOR",
        "NH-CIB-PROPERTY",
        "NH-CIB-ECON",
        "NH-CIB-NARC",
        "NH-CIB-CYBER",
        "NH-CIB-FDE",
        "NH-CIB-VICE",
        "NH-POLITICAL",
        "NH-LINGCHU",
        "NH-LOGISTICS",
        "NH-DSB",
        "NH-POB",
        "NH-TB",
    ] {
        org.plan.add(pilot, Act::QuotaFromPosted { unit: unit.into(), percent: 75 });
    }

    // The cases the audit must see through (generated, not the article's).
    // Posted down, seconded back to the office: paper moves.
    let hosts = ["NH-LINGCHU", "NH-POLITICAL", "NH-LINGCHU", "NH-POB"];
    for (i, staff) in paper.iter().enumerate() {
        let date = org.rng.day(day("2016-03-01"), day("2016-05-31"));
        let station = format!("NH-PS{:02}", org.rng.range(1, 11));
        org.ordered(date, Act::Transfer { staff: staff.clone(), to: station });
        org.ordered(days_after(date, 14), Act::Second { staff: staff.clone(), to: hosts[i].into(), until: None });
    }
    // Down to a station and back up: a round trip.
    org.ordered(day("2014-05-05"), Act::Transfer { staff: round_trip.clone(), to: "NH-PS07".into() });
    org.ordered(day("2015-11-02"), Act::Transfer { staff: round_trip, to: "NH-POLITICAL".into() });
    // The accident squad relabelled front line: nobody moves.
    org.ordered(day("2016-07-01"), Act::Reclassify { unit: "NH-ACCIDENT".into(), category: FRONT });
    // Office officers seconded to stations for six months in 2014: working
    // at the front line meanwhile, still posted in the office.
    for staff in &seconded_down {
        let station = format!("NH-PS{:02}", org.rng.range(1, 11));
        org.ordered(
            day("2014-03-10"),
            Act::Second { staff: staff.clone(), to: station, until: Some(day("2014-09-09")) },
        );
    }
    // Station officers: three promoted into the office (moved up), eight
    // seconded to the command department around the G20 summit (one sent
    // back early), one "temporarily" in the general office since 2008.
    let mut spare: Vec<String> = station_officers.into_values().flatten().collect();
    spare.sort();
    org.rng.shuffle(&mut spare);
    for (staff, to) in spare.drain(..3).zip(["NH-POLITICAL", "NH-LINGCHU", "NH-CIB-ANALYSIS"]) {
        let date = org.rng.day(day("2016-03-01"), day("2016-09-30"));
        org.ordered(date, Act::Transfer { staff, to: to.into() });
    }
    for (i, staff) in spare.drain(..8).enumerate() {
        org.ordered(
            day("2016-08-15"),
            Act::Second { staff: staff.clone(), to: "NH-LINGCHU".into(), until: Some(day("2016-09-10")) },
        );
        if i == 0 {
            org.ordered(day("2016-09-02"), Act::EndSecondment { staff });
        }
    }
    let long = spare
        .iter()
        .position(|s| org.people[s].joined < day("2008-03-01"))
        .map(|i| spare.remove(i))
        .expect("a station officer who joined before 2008");
    org.ordered(day("2008-03-01"), Act::Second { staff: long, to: "NH-GENOFF".into(), until: None });
    // Recruits: ten a year to the stations, two in 2014 and 2016 to the office.
    for year in 2013..=2016 {
        let on = day(&format!("{year}-08-01"));
        for i in 0..12 {
            let unit = match (year, i) {
                (2014, 10 | 11) => "NH-COMMAND".to_string(),
                (2016, 10 | 11) => "NH-LINGCHU".to_string(),
                (2013 | 2015, 10 | 11) => continue,
                _ => format!("NH-PS{:02}", org.rng.range(1, 11)),
            };
            let hire =
                Hire { leading: false, as_of: on, earliest: on, stays: Stays::Natural, ages: (22, 26), on: Some(on) };
            org.hire(&unit, hire, end);
        }
    }
    org
}

/// Pujiang's 26 former internal units by the unit of the 8 each went into.
/// The names follow the pattern of Nanhu's; only the counts (26 → 8) are
/// the article's. Sizes are generated to total 125 office police.
const PUJIANG_GROUPS: [(&str, &str, &str, &[UnitRow]); 8] = [
    (
        "PJ-LINGCHU",
        "警令处",
        "Command department",
        &[
            ("PJ-GENOFF", "办公室", "General office", 6),
            ("PJ-COMMAND", "指挥中心", "Command centre", 8),
            ("PJ-INTEL", "情报信息中心", "Intelligence centre", 5),
            ("PJ-ITECH", "科技信息科", "Information technology section", 3),
        ],
    ),
    (
        "PJ-POLITICAL",
        "政治处",
        "Political department",
        &[
            ("PJ-POLWORK", "政工室", "Political work office", 5),
            ("PJ-PUBLICITY", "宣传科", "Publicity section", 3),
            ("PJ-TRAINING", "教育训练科", "Training section", 3),
        ],
    ),
    (
        "PJ-LOGISTICS",
        "警务保障处",
        "Logistics department",
        &[
            ("PJ-EQUIP", "装备财务科", "Equipment and finance section", 4),
            ("PJ-SERVICES", "后勤服务中心", "Services centre", 3),
        ],
    ),
    (
        "PJ-SUPERVISION",
        "执法执纪监督中心",
        "Law-enforcement and discipline supervision centre",
        &[
            ("PJ-LEGAL", "法制大队", "Legal affairs brigade", 7),
            ("PJ-INSP", "督察大队", "Inspection brigade", 5),
            ("PJ-SUPV", "监察室", "Supervision office", 3),
            ("PJ-PETITION", "信访科", "Petitions section", 3),
            ("PJ-AUDIT", "审计科", "Audit section", 2),
        ],
    ),
    (
        "PJ-CIB",
        "刑事犯罪侦查局",
        "Criminal investigation bureau",
        &[
            ("PJ-CRIM", "刑侦大队", "Criminal investigation brigade", 16),
            ("PJ-ECON", "经侦大队", "Economic crime brigade", 6),
            ("PJ-NARC", "禁毒大队", "Narcotics brigade", 4),
            ("PJ-CYBER", "网警大队", "Cyber police brigade", 5),
            ("PJ-FDE", "食药环侦大队", "Food, drug and environment crime brigade", 3),
        ],
    ),
    (
        "PJ-POB",
        "治安管理局",
        "Public order bureau",
        &[
            ("PJ-ORDER", "治安大队", "Public order brigade", 7),
            ("PJ-HUKOU", "户政科", "Household registration section", 4),
            ("PJ-EXIT", "出入境管理科", "Exit and entry section", 2),
            ("PJ-SWAT", "巡特警大队", "Patrol and special police brigade", 6),
        ],
    ),
    (
        "PJ-DSB",
        "国内安全保卫局",
        "Domestic security bureau",
        &[
            ("PJ-DOMSEC", "国保大队", "Domestic security brigade", 5),
            ("PJ-ANTICULT", "反邪教办公室", "Anti-cult office", 2),
        ],
    ),
    ("PJ-TB", "交通管理局", "Traffic bureau", &[("PJ-TRAFFIC", "交警大队", "Traffic police brigade", 5)]),
];

const PUJIANG_STATIONS: [(&str, &str); 15] = [
    ("浦阳", "Puyang"),
    ("仙华", "Xianhua"),
    ("浦南", "Punan"),
    ("黄宅", "Huangzhai"),
    ("岩头", "Yantou"),
    ("郑宅", "Zhengzhai"),
    ("檀溪", "Tanxi"),
    ("杭坪", "Hangping"),
    ("白马", "Baima"),
    ("郑家坞", "Zhengjiawu"),
    ("虞宅", "Yuzhai"),
    ("大畈", "Dafan"),
    ("中余", "Zhongyu"),
    ("前吴", "Qianwu"),
    ("花桥", "Huaqiao"),
];

fn pujiang(mut org: Org) -> Org {
    let start = day("2005-01-01");
    let d1 = day(PUJIANG_FROM);
    let end = day(END);
    org.unit(start, "PJ", &name("浦江县公安局", "Pujiang county bureau"), OFFICE, None, None);
    org.unit(start, "PJ-HQ", &name("浦江县公安局机关", "Pujiang office (internal units)"), OFFICE, Some("PJ"), None);
    for (_, _, _, units) in PUJIANG_GROUPS {
        for (id, zh, en, size) in units {
            let quota = quota_near(&mut org, *size);
            org.unit(start, id, &name(zh, en), OFFICE, Some("PJ-HQ"), quota);
        }
    }
    for n in 1..=3 {
        let zh = ["一", "二", "三"][n - 1];
        org.unit(
            start,
            &format!("PJ-TR{n}"),
            &name(&format!("交警{zh}中队"), &format!("Traffic squadron {n}")),
            FRONT,
            Some("PJ-TRAFFIC"),
            Some(14),
        );
    }
    for (i, (zh, en)) in PUJIANG_STATIONS.iter().enumerate() {
        org.unit(
            start,
            &format!("PJ-PS{:02}", i + 1),
            &name(&format!("{zh}派出所"), &format!("{en} station")),
            FRONT,
            Some("PJ"),
            Some(20),
        );
    }
    org.unit(start, "PJ-JAIL", &name("看守所", "Detention centre"), FRONT, Some("PJ"), Some(16));
    org.unit(start, "PJ-DETENTION", &name("拘留所", "Detention house"), FRONT, Some("PJ"), Some(8));

    // The office's strength is to fall by moves alone, as reported: nobody
    // in the office retires before the audit's end.
    for (_, _, _, units) in PUJIANG_GROUPS {
        for (id, _, _, size) in units {
            staff_unit(&mut org, id, *size, office_staff(d1, start, 58, Stays::EveryoneUntil(end)), end);
        }
    }
    let front: Vec<(String, u32)> = (1..=15)
        .map(|i| (format!("PJ-PS{i:02}"), 18))
        .chain((1..=3).map(|n| (format!("PJ-TR{n}"), 12)))
        .chain([("PJ-JAIL".to_string(), 15), ("PJ-DETENTION".to_string(), 8)])
        .collect();
    for (unit, size) in &front {
        for i in 0..*size {
            let leading = i == 0 || (i == 1 && *size >= 15);
            let hire = Hire { leading, as_of: d1, earliest: start, stays: Stays::Natural, ages: (23, 57), on: None };
            org.hire(unit, hire, end);
        }
    }

    // 29 of 125 moved down (23.2%): 8 with the criminal brigade's two new
    // area squads (restructured), 21 transferred to stations and traffic
    // squadrons.
    let office: Vec<Person> =
        org.people.values().filter(|p| p.first_category == OFFICE && !p.leading).cloned().collect();
    let mut crim: Vec<String> = office.iter().filter(|p| p.first_unit == "PJ-CRIM").map(|p| p.id.clone()).collect();
    org.rng.shuffle(&mut crim);
    let restructured: Vec<String> = crim.drain(..8).collect();
    let mut pool: Vec<String> = office.iter().filter(|p| p.first_unit != "PJ-CRIM").map(|p| p.id.clone()).collect();
    org.rng.shuffle(&mut pool);
    let transferred: Vec<String> = pool.drain(..21).collect();

    let reform = day("2015-09-15");
    let area = |n: u32| {
        new_unit(
            &format!("PJ-AREA{n}"),
            &format!("片区刑侦{}中队", ["一", "二"][n as usize - 1]),
            &format!("Area criminal squad {n}"),
            FRONT,
            Some("PJ"),
        )
    };
    let parts = vec![
        new_unit("PJ-CRIM-CORE", "刑侦大队", "Criminal investigation brigade", OFFICE, Some("PJ-HQ")),
        area(1),
        area(2),
    ];
    let allocation: BTreeMap<String, String> =
        restructured.iter().enumerate().map(|(i, s)| (s.clone(), format!("PJ-AREA{}", i % 2 + 1))).collect();
    org.ordered(
        reform,
        Act::Split { source: "PJ-CRIM".into(), parts, staff: allocation, default_part: "PJ-CRIM-CORE".into() },
    );
    for (target, zh, en, units) in PUJIANG_GROUPS {
        let mut sources: Vec<&str> = units.iter().map(|u| u.0).collect();
        if target == "PJ-CIB" {
            sources[0] = "PJ-CRIM-CORE";
        }
        org.merge(reform, &sources, new_unit(target, zh, en, OFFICE, Some("PJ-HQ")));
        org.plan.add(reform, Act::QuotaFromPosted { unit: target.into(), percent: 80 });
    }
    for n in 1..=2 {
        org.plan.add(reform, Act::Move { unit: format!("PJ-AREA{n}"), parent: Some("PJ-CIB".into()) });
    }
    for (i, staff) in transferred.into_iter().enumerate() {
        let to = if i < 15 { format!("PJ-PS{:02}", i + 1) } else { format!("PJ-TR{}", i % 3 + 1) };
        let date = org.rng.day(day("2015-10-01"), day("2016-10-31"));
        org.ordered(date, Act::Transfer { staff, to });
    }
    // Recruits go to the stations.
    for year in 2013..=2016 {
        let on = day(&format!("{year}-08-01"));
        for _ in 0..6 {
            let unit = format!("PJ-PS{:02}", org.rng.range(1, 15));
            let hire =
                Hire { leading: false, as_of: on, earliest: on, stays: Stays::Natural, ages: (22, 26), on: Some(on) };
            org.hire(&unit, hire, end);
        }
    }
    org
}

/// The provincial department's own mergers announced on 2016-12-01 (names
/// and pairs are the article's; sizes are generated).
fn province(mut org: Org) -> Org {
    let start = day("2000-01-01");
    let reform = day(AUDIT_TO);
    let end = day(END);
    org.unit(start, "ZJ", &name("浙江省公安厅", "Zhejiang public security department"), OFFICE, None, None);
    let units = [
        ("ZJ-ORDER", "治安总队", "Public order corps", 20),
        ("ZJ-POP", "人口服务管理总队", "Population services corps", 12),
        ("ZJ-TRAFFIC", "交通管理局", "Traffic bureau", 18),
        ("ZJ-HIGHWAY", "高速交警总队", "Highway traffic police corps", 15),
    ];
    for (id, zh, en, size) in units {
        let quota = quota_near(&mut org, size);
        org.unit(start, id, &name(zh, en), OFFICE, Some("ZJ"), quota);
        staff_unit(&mut org, id, size, office_staff(day("2016-01-01"), start, 58, Stays::Natural), end);
    }
    let order_sup = new_unit("ZJ-ORDER-SUP", "治安监督管理总队", "Public order supervision corps", OFFICE, Some("ZJ"));
    org.merge(reform, &["ZJ-ORDER", "ZJ-POP"], order_sup);
    let traffic = new_unit("ZJ-TRAFFIC2", "交通管理局", "Traffic bureau", OFFICE, Some("ZJ"));
    org.merge(reform, &["ZJ-TRAFFIC", "ZJ-HIGHWAY"], traffic);
    org
}
