//! Regions: the blocks compiled together with a hot block (same page, reached by direct
//! jumps and fall-throughs, forming a loop).

use super::Cpu;

/// Most blocks compiled into one region. Measured on the guest benches (2026-11-28),
/// when regions were every block found breadth first (loops or not): 1 (no regions)
/// gives intloop 0.088 s, sort 0.20 s, calls 0.245 s; 8 gives 0.065, 0.185 and 0.30
/// (call-heavy code pays for loading and storing the region's whole state at every
/// exit); 16 gives 0.064, 0.20 and 0.39. With loop-only regions (callgrind, host
/// instructions): 12 and 16 run sort alike (the partition loop has 10 blocks), and 12
/// compiles calls' unrolled recursion with 8% fewer instructions than 16.
const MAX_REGION: usize = 12;

/// Most guest instructions compiled into one region. Callgrind (host instructions,
/// `--jit-thread off`, 2026-11-28): the quicksort partition loop has 45–48, so a cap of
/// 48 leaves sort's generated code as it was, while the unrolled recursion of the
/// call-heavy bench compiles with 14% less work (its generated code +1%); 32 would cut
/// that compile work by 40% but makes sort's code 12% slower.
const MAX_REGION_INSNS: usize = 48;

/// Most blocks looked at (breadth first from the hot block) when searching for the
/// loop through it.
const MAX_SEARCH: usize = 32;

/// Where a block continues by direct control flow: jump and branch targets, and the
/// next instruction when it falls through or was cut (size or page limit).
fn static_successors(b: &crate::cache::Block) -> Vec<u64> {
    use iced_x86::FlowControl;
    let Some(last) = b.insns.last() else {
        return Vec::new();
    };
    let direct = matches!(
        last.op0_kind(),
        iced_x86::OpKind::NearBranch16
            | iced_x86::OpKind::NearBranch32
            | iced_x86::OpKind::NearBranch64
    );
    match last.flow_control() {
        FlowControl::ConditionalBranch if direct => vec![last.near_branch_target(), last.next_ip()],
        FlowControl::UnconditionalBranch if direct => vec![last.near_branch_target()],
        FlowControl::Next => vec![last.next_ip()],
        _ => Vec::new(),
    }
}

impl Cpu {
    /// The blocks compiled together with hot block `id`: those of the same page it
    /// reaches through direct jumps and fall-throughs, already executed, in the same
    /// mode, that lie on a loop through it (at most [`MAX_REGION`], nearest first).
    /// Jumps among them stay inside the compiled function.
    pub(super) fn region_of(
        &mut self,
        id: usize,
    ) -> Vec<(crate::cache::BlockKey, Vec<iced_x86::Instruction>)> {
        let ids = self.region_ids(id);
        // The other members are compiled alone when they get hot themselves: the loop
        // is already covered, and compiling it once per member would multiply the
        // compile work.
        for &i in &ids[1..] {
            self.cache.blocks[i].in_region = true;
        }
        let blocks = &self.cache.blocks;
        ids.iter()
            .map(|&i| (blocks[i].key, blocks[i].insns.clone()))
            .collect()
    }

    fn region_ids(&self, id: usize) -> Vec<usize> {
        let blocks = &self.cache.blocks;
        let mut ids = vec![id];
        if blocks[id].in_region {
            return ids;
        }
        let mut k = 0;
        while k < ids.len() && ids.len() < MAX_SEARCH {
            let b = &blocks[ids[k]];
            k += 1;
            for t in static_successors(b) {
                let Some(tid) = self.cache.find_near(id, t) else {
                    continue;
                };
                let tb = &blocks[tid];
                let one_page = tb.pages[0] == tb.pages[1];
                if tb.valid
                    && one_page
                    && tb.exec_count > 0
                    && !tb.uncompilable
                    && !ids.contains(&tid)
                    && ids.len() < MAX_SEARCH
                {
                    ids.push(tid);
                }
            }
        }
        // Only the loop through the hot block pays for itself: entering a region
        // loads, and leaving it stores, every value any of its blocks uses, so blocks
        // that merely lead out of the loop (to a call, a return, the code after the
        // loop) are left to be compiled on their own. Keep the blocks from which the
        // hot block can be reached again (the search found them all reachable from
        // it): its strongly connected component.
        let starts: Vec<u64> = ids.iter().map(|&i| blocks[i].key.rip).collect();
        let edges: Vec<Vec<usize>> = ids
            .iter()
            .map(|&i| {
                static_successors(&blocks[i])
                    .into_iter()
                    .filter_map(|t| starts.iter().position(|&s| s == t))
                    .collect()
            })
            .collect();
        let back = reaches(&edges, 0);
        let mut k = 0;
        ids.retain(|_| {
            k += 1;
            k == 1 || back[k - 1]
        });
        ids.truncate(MAX_REGION);
        // Nearest first, as long as the instructions fit (the hot block always does).
        let mut total = 0;
        let keep = ids
            .iter()
            .take_while(|&&i| {
                total += blocks[i].insns.len();
                total <= MAX_REGION_INSNS
            })
            .count();
        ids.truncate(keep.max(1));
        ids
    }
}

/// `out[n]` is true when node `n` of the graph (adjacency lists) can reach `target`
/// through at least one edge.
fn reaches(edges: &[Vec<usize>], target: usize) -> Vec<bool> {
    let mut rev: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
    for (n, out) in edges.iter().enumerate() {
        for &t in out {
            if let Some(r) = rev.get_mut(t) {
                r.push(n);
            }
        }
    }
    let mut seen = vec![false; edges.len()];
    let mut stack: Vec<usize> = rev.get(target).cloned().unwrap_or_default();
    while let Some(n) = stack.pop() {
        if let Some(s) = seen.get_mut(n) {
            if !*s {
                *s = true;
                stack.extend(rev.get(n).into_iter().flatten().copied());
            }
        }
    }
    seen
}
