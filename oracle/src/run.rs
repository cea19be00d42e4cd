//! The driver: draws cases, runs each natively once and in every requested tier, and
//! tallies verdicts per tier and mnemonic.

use crate::compare::{compare_fsw, report, Verdict};
use crate::forms::{self, Form};
use crate::gen::{self, Case};
use crate::guest::{Guest, GuestTier};
use crate::native::with_native;
use crate::rng::Rng;
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Config {
    pub count: u64,
    pub seed: u64,
    /// Index of the first case (cases are numbered; case `i` depends only on the seed
    /// and `i`, so a single case can be re-run with `first = i, count = 1`).
    pub first: u64,
    pub tiers: Vec<GuestTier>,
    /// Mnemonics to draw from (empty: all forms).
    pub filter: Vec<String>,
    /// `Code` names never drawn (e.g. forms with a known, reported bug).
    pub skip: Vec<String>,
    /// Most mismatch reports kept (all are counted).
    pub max_reports: usize,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    pub pass: u64,
    pub both_fault: u64,
    pub unsupported: u64,
    pub mismatch: u64,
    /// Tiered only: measured runs that executed compiled code.
    pub compiled: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.pass + self.both_fault + self.unsupported + self.mismatch
    }
    fn add(&mut self, o: &Counts) {
        self.pass += o.pass;
        self.both_fault += o.both_fault;
        self.unsupported += o.unsupported;
        self.mismatch += o.mismatch;
        self.compiled += o.compiled;
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    /// (tier, mnemonic) -> counts.
    pub by_mnemonic: BTreeMap<(GuestTier, String), Counts>,
    pub reports: Vec<String>,
    /// Forms for which no case could be generated.
    pub ungeneratable: u64,
}

impl Summary {
    pub fn tier_total(&self, t: GuestTier) -> Counts {
        let mut c = Counts::default();
        for ((tt, _), v) in &self.by_mnemonic {
            if *tt == t {
                c.add(v);
            }
        }
        c
    }
    pub fn mismatches(&self) -> u64 {
        self.by_mnemonic.values().map(|c| c.mismatch).sum()
    }
}

/// The RNG of case `index`.
pub fn case_rng(seed: u64, index: u64) -> Rng {
    let mut r = Rng::new(seed);
    let a = r.next_u64();
    Rng::new(a ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}

/// Forms grouped by mnemonic: cases pick a mnemonic uniformly, then one of its forms,
/// so mnemonics with dozens of encodings do not crowd out the others.
pub fn group_by_mnemonic(forms: Vec<&'static Form>) -> Vec<Vec<&'static Form>> {
    let mut groups: BTreeMap<u16, Vec<&'static Form>> = BTreeMap::new();
    for f in forms {
        groups.entry(f.mnemonic as u16).or_default().push(f);
    }
    groups.into_values().collect()
}

/// Case `index` of a run over `groups` (see [`group_by_mnemonic`]).
pub fn make_case(
    groups: &[Vec<&'static Form>],
    seed: u64,
    index: u64,
) -> Option<(&'static str, Case)> {
    let mut rng = case_rng(seed, index);
    let g = groups.get(rng.below(groups.len() as u64) as usize)?;
    let f = g.get(rng.below(g.len() as u64) as usize)?;
    let name: &'static str = mnemonic_name(f);
    gen::case(&mut rng, f).map(|c| (name, c))
}

fn mnemonic_name(f: &Form) -> &'static str {
    use std::sync::OnceLock;
    static NAMES: OnceLock<BTreeMap<u16, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        forms::all_forms()
            .iter()
            .map(|f| {
                let s: &'static str = Box::leak(format!("{:?}", f.mnemonic).into_boxed_str());
                (f.mnemonic as u16, s)
            })
            .collect()
    });
    names.get(&(f.mnemonic as u16)).copied().unwrap_or("?")
}

/// Runs the cases; `progress(done, summary)` is called every `every` cases.
pub fn run(
    cfg: &Config,
    every: u64,
    mut progress: impl FnMut(u64, &Summary),
) -> Result<Summary, String> {
    let forms = group_by_mnemonic(forms::select_skip(&cfg.filter, &cfg.skip));
    if forms.is_empty() {
        return Err(format!("no instruction form matches {:?}", cfg.filter));
    }
    let mut guests = cfg
        .tiers
        .iter()
        .map(|t| Guest::new(*t))
        .collect::<Result<Vec<_>, _>>()?;
    let mut sum = Summary::default();
    let trace = std::env::var_os("REPRISE_ORACLE_TRACE").is_some();
    for k in 0..cfg.count {
        let index = cfg.first + k;
        let Some((name, case)) = make_case(&forms, cfg.seed, index) else {
            sum.ungeneratable += 1;
            continue;
        };
        if trace {
            eprintln!(
                "case {index}: {} ({:02x?})",
                crate::compare::format_ins(&case.ins),
                case.bytes
            );
        }
        let native = with_native(|n| n.run(&case.bytes, &case.input))?;
        for g in guests.iter_mut() {
            let run = g.run(&case.bytes, &case.input);
            let c = sum
                .by_mnemonic
                .entry((g.tier(), name.to_string()))
                .or_default();
            if run.compiled {
                c.compiled += 1;
            }
            match compare_fsw(
                case.undefined_flags,
                case.undefined_fsw,
                &native,
                &run.outcome,
            ) {
                Verdict::Pass => c.pass += 1,
                Verdict::BothFault => c.both_fault += 1,
                Verdict::Unsupported => c.unsupported += 1,
                Verdict::Mismatch(d) => {
                    c.mismatch += 1;
                    if sum.reports.len() < cfg.max_reports {
                        let mut r = report(&case, g.tier(), &native, &run.outcome, &d);
                        r.push_str(&format!(
                            " reproduce: --seed {} --first {} --count 1 --tier {}\n",
                            cfg.seed,
                            index,
                            g.tier().name()
                        ));
                        sum.reports.push(r);
                    }
                }
            }
        }
        if every > 0 && (k + 1) % every == 0 {
            progress(k + 1, &sum);
        }
    }
    Ok(sum)
}

/// A per-mnemonic table of the summary.
pub fn table(sum: &Summary) -> String {
    let mut s = String::from(
        "tier    mnemonic          total      pass  bothfault  unsupported  mismatch  compiled\n",
    );
    for ((t, m), c) in &sum.by_mnemonic {
        s.push_str(&format!(
            "{:<7} {:<14} {:>8} {:>9} {:>10} {:>12} {:>9} {:>9}\n",
            t.name(),
            m,
            c.total(),
            c.pass,
            c.both_fault,
            c.unsupported,
            c.mismatch,
            c.compiled
        ));
    }
    s
}
