//! Regions: the blocks compiled together with a hot block (same page, reached by direct
//! jumps and fall-throughs, forming a loop).

use super::Cpu;

/// Most blocks compiled into one region. Measured on the guest benches (2026-11-28):
/// 1 (no regions) gives intloop 0.088 s, sort 0.20 s, calls 0.245 s; 8 gives 0.065,
/// 0.185 and 0.30 (call-heavy code pays for loading and storing the region's whole
/// state at every exit); 16 gives 0.064, 0.20 and 0.39.
const MAX_REGION: usize = 8;

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

/// True if the directed graph (adjacency lists) has a cycle.
fn has_cycle(edges: &[Vec<usize>]) -> bool {
    // 0 unvisited, 1 on the current path, 2 done; iterative depth-first search.
    let mut state = vec![0u8; edges.len()];
    for root in 0..edges.len() {
        if state[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        state[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&t) = edges[node].get(*next) {
                *next += 1;
                match state[t] {
                    1 => return true,
                    0 => {
                        state[t] = 1;
                        stack.push((t, 0));
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
    false
}

impl Cpu {
    /// The blocks compiled together with hot block `id`: those of the same page it
    /// reaches through direct jumps and fall-throughs, already executed, in the same
    /// mode (breadth first, at most [`MAX_REGION`]). Jumps among them stay inside the
    /// compiled function.
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
        while k < ids.len() && ids.len() < MAX_REGION {
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
                    && ids.len() < MAX_REGION
                {
                    ids.push(tid);
                }
            }
        }
        // Only a region that contains a loop pays for itself: entering it loads, and
        // leaving it stores, every value any of its blocks uses. Otherwise compile the
        // hot block alone.
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
        let has_loop = has_cycle(&edges);
        if !has_loop {
            ids.truncate(1);
        }
        ids
    }
}
