//! `reprise-oracle`: runs random instructions natively and in reprise and compares.

use clap::Parser;
use reprise_oracle::guest::GuestTier;
use reprise_oracle::run::{run, table, Config};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum TierArg {
    Interp,
    Tiered,
    Both,
}

/// Differential test of reprise's CPU against the host CPU.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Number of cases.
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    /// Seed; the same seed draws the same cases on every host.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Index of the first case (with --count 1: re-run one reported case).
    #[arg(long, default_value_t = 0)]
    first: u64,
    /// Which reprise configuration to compare against the host.
    #[arg(long, value_enum, default_value_t = TierArg::Both)]
    tier: TierArg,
    /// Only these mnemonics (iced-x86 spelling, case-insensitive, comma-separated or
    /// repeated), e.g. --filter add,adc,imul.
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Never draw these forms (iced-x86 `Code` names, comma-separated), e.g.
    /// --skip Leavew,Enterw_imm16_imm8.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
    /// Most mismatch reports printed.
    #[arg(long, default_value_t = 20)]
    max_reports: usize,
    /// Print the list of eligible forms and exit.
    #[arg(long)]
    list_forms: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.list_forms {
        for f in reprise_oracle::forms::select_skip(&a.filter, &a.skip) {
            println!("{:?}", f.code);
        }
        return ExitCode::SUCCESS;
    }
    let tiers = match a.tier {
        TierArg::Interp => vec![GuestTier::Interp],
        TierArg::Tiered => vec![GuestTier::Tiered],
        TierArg::Both => vec![GuestTier::Interp, GuestTier::Tiered],
    };
    let cfg = Config {
        count: a.count,
        seed: a.seed,
        first: a.first,
        tiers: tiers.clone(),
        filter: a.filter,
        skip: a.skip,
        max_reports: a.max_reports,
    };
    let t0 = Instant::now();
    let every = (a.count / 20).clamp(1, 100_000);
    let res = run(&cfg, every, |done, s| {
        let mut line = format!("{done}/{} cases ({:.0?})", a.count, t0.elapsed());
        for t in &tiers {
            let c = s.tier_total(*t);
            line.push_str(&format!(
                "  {}: pass {} fault {} unsupported {} MISMATCH {}",
                t.name(),
                c.pass,
                c.both_fault,
                c.unsupported,
                c.mismatch
            ));
        }
        eprintln!("{line}");
    });
    let sum = match res {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", table(&sum));
    for t in &tiers {
        let c = sum.tier_total(*t);
        println!(
            "{}: {} cases: {} pass, {} both fault, {} unsupported (#UD in reprise), {} mismatches{}",
            t.name(),
            c.total(),
            c.pass,
            c.both_fault,
            c.unsupported,
            c.mismatch,
            if *t == GuestTier::Tiered {
                format!(", {} ran compiled code", c.compiled)
            } else {
                String::new()
            }
        );
    }
    for t in &tiers {
        let unsupported: Vec<&str> = sum
            .by_mnemonic
            .iter()
            .filter(|((tt, _), c)| tt == t && c.unsupported > 0)
            .map(|((_, m), _)| m.as_str())
            .collect();
        if !unsupported.is_empty() {
            println!(
                "{}: #UD in reprise for {} mnemonics: {}",
                t.name(),
                unsupported.len(),
                unsupported.join(" ")
            );
        }
    }
    if sum.ungeneratable > 0 {
        println!("{} draws produced no encodable case", sum.ungeneratable);
    }
    for r in &sum.reports {
        println!("\n{r}");
    }
    println!("elapsed {:.1?}", t0.elapsed());
    if sum.mismatches() > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
