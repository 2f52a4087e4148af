use super::*;

/// A global plan of `n` one-graph batches whose real edges grow with the index, padded to
/// (index + 2) nodes so that shapes differ.
fn global(n: usize) -> Plans {
    let mut p = Plans::default();
    for i in 0..n {
        p.push(
            &[i as i64],
            Shape::new(1, i, 1),
            Shape::new(i + 2, i, 2),
            false,
        );
    }
    p
}

/// Sizes of graphs 0..64 as `global` and the tests' plans have them: one node, `i` edges.
fn sizes() -> Vec<GraphSize> {
    (0..64).map(|i| GraphSize { nodes: 1, edges: i }).collect()
}

/// A [`Dealing`] of its four values, in their order.
pub(crate) fn how(world_size: usize, drop_last: bool, seed: u64, epoch: u64) -> Dealing {
    Dealing {
        world_size,
        drop_last,
        seed,
        epoch,
    }
}

fn shares(g: &Plans, r: usize, drop_last: bool) -> Vec<Plans> {
    (0..r)
        .map(|k| deal(g, &sizes(), k, how(r, drop_last, 7, 3)).unwrap())
        .collect()
}

#[test]
fn every_rank_gets_as_many_batches_and_every_batch_is_dealt_once() {
    for (n, r) in [(10, 3), (9, 3), (2, 4), (17, 8), (1, 2)] {
        let g = global(n);
        let ranks = shares(&g, r, false);
        let per = n.div_ceil(r);
        let mut seen = vec![0; n];
        for share in &ranks {
            assert_eq!(share.len(), per, "n {n} r {r}");
            for b in 0..share.len() {
                if !share.repeated[b] {
                    seen[share.batch(b)[0] as usize] += 1;
                }
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "n {n} r {r}: {seen:?}");
        let repeats: usize = ranks
            .iter()
            .map(|s| s.repeated.iter().filter(|&&x| x).count())
            .sum();
        assert_eq!(repeats, per * r - n);
    }
}

#[test]
fn drop_last_leaves_out_the_smallest_batches() {
    let g = global(10);
    let ranks = shares(&g, 3, true);
    let mut dealt: Vec<i64> = ranks
        .iter()
        .flat_map(|s| (0..s.len()).map(move |b| s.batch(b)[0]))
        .collect();
    dealt.sort_unstable();
    assert_eq!(
        dealt,
        (1..10).collect::<Vec<_>>(),
        "batch 0 has the least work"
    );
    assert!(
        ranks
            .iter()
            .all(|s| s.len() == 3 && !s.repeated.contains(&true))
    );
    let e = deal(&global(2), &sizes(), 0, how(3, true, 7, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("fewer than the 3 ranks"), "{e}");
}

#[test]
fn a_step_has_one_padded_shape_on_every_rank_and_similar_work() {
    let g = global(40);
    let ranks = shares(&g, 4, false);
    for s in 0..ranks[0].len() {
        let shapes: Vec<Shape> = ranks.iter().map(|p| p.padded_shape(s)).collect();
        assert!(
            shapes.iter().all(|&x| x == shapes[0]),
            "step {s}: {shapes:?}"
        );
        for p in &ranks {
            assert!(shapes[0].can_pad(&p.real_shape(s)));
        }
        let edges: Vec<usize> = ranks.iter().map(|p| p.real_shape(s).edges).collect();
        let (lo, hi) = (edges.iter().min().unwrap(), edges.iter().max().unwrap());
        assert!(hi - lo <= 3, "step {s}: {edges:?}");
    }
    // the steps are not in size order
    let first: Vec<usize> = (0..ranks[0].len())
        .map(|s| ranks[0].real_shape(s).edges)
        .collect();
    let mut sorted = first.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_ne!(first, sorted);
}

#[test]
fn dealing_is_deterministic_and_depends_on_seed_and_epoch() {
    let g = global(30);
    let d = |seed, epoch| deal(&g, &sizes(), 1, how(3, false, seed, epoch)).unwrap();
    assert_eq!(d(5, 2), d(5, 2));
    assert_ne!(d(5, 2), d(5, 3));
    assert_ne!(d(5, 2), d(6, 2));
    assert_eq!(deal(&g, &sizes(), 0, how(1, false, 5, 2)).unwrap(), g);
}

#[test]
fn bad_ranks_are_refused_by_name() {
    let g = global(4);
    assert!(
        deal(&g, &sizes(), 3, how(3, false, 0, 0))
            .unwrap_err()
            .to_string()
            .contains("rank 3 is not below world_size 3")
    );
    assert!(
        deal(&g, &sizes(), 0, how(0, false, 0, 0))
            .unwrap_err()
            .to_string()
            .contains("world_size must be at least 1")
    );
}

#[test]
fn drop_last_leaves_out_a_last_batch_the_end_of_the_pass_cut_short() {
    // four batches of 3 graphs and a last one of 1: one rank drops it, as torch's drop_last does
    let mut g = Plans::default();
    for b in 0..4 {
        g.push(
            &[3 * b, 3 * b + 1, 3 * b + 2],
            Shape::new(9, 9, 3),
            Shape::new(16, 16, 4),
            false,
        );
    }
    g.push(&[12], Shape::new(3, 3, 1), Shape::new(16, 16, 4), false);
    assert_eq!(deal(&g, &sizes(), 0, how(1, false, 0, 0)).unwrap().len(), 5);
    let kept = deal(&g, &sizes(), 0, how(1, true, 0, 0)).unwrap();
    assert_eq!(kept.len(), 4);
    assert_eq!(kept.indices, (0..12).collect::<Vec<_>>());
    // a full last batch is kept
    let full = deal(&global(5), &sizes(), 0, how(1, true, 0, 0)).unwrap();
    assert_eq!(full.len(), 5);
}

#[test]
fn a_world_size_past_the_bound_is_refused_before_allocating() {
    let e = deal(&global(3), &sizes(), 0, how(usize::MAX, false, 0, 0))
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 1048576 ranks"), "{e}");
}

#[test]
fn a_last_batch_cut_short_is_completed_with_the_pass_s_first_graphs_on_many_ranks() {
    // four batches of 3 graphs (one node, i edges each), a last one of graph 12 alone
    let mut g = Plans::default();
    for b in 0..4 {
        let ids = [3 * b, 3 * b + 1, 3 * b + 2];
        let edges = (9 * b + 3) as usize;
        g.push(&ids, Shape::new(3, edges, 3), Shape::new(8, 64, 4), false);
    }
    g.push(&[12], Shape::new(1, 12, 1), Shape::new(8, 64, 4), false);
    let ranks = deal_all(&g, &sizes(), how(2, false, 0, 0)).unwrap();
    let last = ranks
        .iter()
        .flat_map(|p| (0..p.len()).map(move |b| (p.batch(b).to_vec(), p.real_shape(b))))
        .find(|(ids, _)| ids[0] == 12)
        .expect("the last batch is dealt");
    assert_eq!(last.0, vec![12, 0, 1], "completed with graphs 0 and 1");
    assert_eq!(last.1, Shape::new(3, 13, 3));
    let bal = balance::balance(&ranks, 13).unwrap();
    assert_eq!(
        bal.repeated,
        2.0 + 3.0,
        "graphs 0 and 1, and one batch of 3 copied"
    );
    // the largest padded shape bounds it: a first graph of 60 edges does not fit beside 12 in
    // 64, and the completion stops there (the pass's order is kept)
    let mut big = sizes();
    big[0].edges = 60;
    let ranks = deal_all(&g, &big, how(2, false, 0, 0)).unwrap();
    let alone = ranks
        .iter()
        .any(|p| (0..p.len()).any(|b| p.batch(b) == [12]));
    assert!(alone, "{ranks:?}");
    // one rank, or drop_last: as before
    assert_eq!(deal(&g, &sizes(), 0, how(1, false, 0, 0)).unwrap(), g);
    assert!(
        deal_all(&g, &sizes(), how(2, true, 0, 0))
            .unwrap()
            .iter()
            .all(|p| p.len() == 2)
    );
}
