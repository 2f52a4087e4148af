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

fn shares(g: &Plans, r: usize, drop_last: bool) -> Vec<Plans> {
    (0..r)
        .map(|k| deal(g, k, r, drop_last, 7, 3).unwrap())
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
    let e = deal(&global(2), 0, 3, true, 7, 0).unwrap_err().to_string();
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
    let d = |seed, epoch| deal(&g, 1, 3, false, seed, epoch).unwrap();
    assert_eq!(d(5, 2), d(5, 2));
    assert_ne!(d(5, 2), d(5, 3));
    assert_ne!(d(5, 2), d(6, 2));
    assert_eq!(deal(&g, 0, 1, false, 5, 2).unwrap(), g);
}

#[test]
fn bad_ranks_are_refused_by_name() {
    let g = global(4);
    assert!(
        deal(&g, 3, 3, false, 0, 0)
            .unwrap_err()
            .to_string()
            .contains("rank 3 is not below world_size 3")
    );
    assert!(
        deal(&g, 0, 0, false, 0, 0)
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
    assert_eq!(deal(&g, 0, 1, false, 0, 0).unwrap().len(), 5);
    let kept = deal(&g, 0, 1, true, 0, 0).unwrap();
    assert_eq!(kept.len(), 4);
    assert_eq!(kept.indices, (0..12).collect::<Vec<_>>());
    // a full last batch is kept
    let full = deal(&global(5), 0, 1, true, 0, 0).unwrap();
    assert_eq!(full.len(), 5);
}

#[test]
fn a_world_size_past_the_bound_is_refused_before_allocating() {
    let e = deal(&global(3), 0, usize::MAX, false, 0, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 1048576 ranks"), "{e}");
}
