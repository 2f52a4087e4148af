use super::*;

/// Two graphs of 3 and 2 nodes: one byte-per-node column, one 2-byte-per-graph column.
struct Fixture {
    node_offsets: Vec<i64>,
    edge_offsets: Vec<i64>,
    senders: Vec<i32>,
    receivers: Vec<i32>,
    z: Vec<u8>,
    y: Vec<u8>,
}

/// Graph 0 fully connected in the pattern's order, graph 1 with its 2 edges stored reversed.
fn fixture() -> Fixture {
    Fixture {
        node_offsets: vec![0, 3, 5],
        edge_offsets: vec![0, 6, 8],
        senders: vec![1, 2, 0, 2, 0, 1, 0, 1],
        receivers: vec![0, 0, 1, 1, 2, 2, 1, 0],
        z: vec![6, 1, 1, 8, 8],
        y: vec![10, 11, 20, 21],
    }
}

/// Everything a collation wrote, as plain vectors.
#[derive(Debug, PartialEq)]
struct Written {
    z: Vec<u8>,
    y: Vec<u8>,
    senders: Vec<i64>,
    receivers: Vec<i64>,
    node_graph: Vec<i64>,
    n_node: Vec<i64>,
    n_edge: Vec<i64>,
    mask: Vec<bool>,
}

fn run(
    f: &Fixture,
    edges: EdgeSource<'_, i64, i32>,
    graphs: &[i64],
    padded: Shape,
) -> Result<Written> {
    let node_rows = [Rows {
        bytes: &f.z,
        row_bytes: 1,
    }];
    let graph_rows = [Rows {
        bytes: &f.y,
        row_bytes: 2,
    }];
    let store = Store {
        node_offsets: &f.node_offsets,
        edges,
        node_rows: &node_rows,
        edge_rows: &[],
        graph_rows: &graph_rows,
    };
    store.check()?;
    let mut patterns = FullPatterns::default();
    patterns.cover(3);
    let (mut z, mut y) = (vec![0xAAu8; 8], vec![0xAAu8; 8]);
    let (mut s, mut r, mut ng) = (vec![-1i64; 12], vec![-1i64; 12], vec![-1i32; 8]);
    let (mut nn, mut ne, mut mask) = (vec![u32::MAX; 4], vec![-1i64; 4], vec![true; 4]);
    let [mut node_out, mut graph_out] = row_columns(&mut z, &mut y);
    let mut out = Outputs {
        columns: PaddedColumns {
            node_rows: &mut node_out,
            edge_rows: &mut [],
            graph_rows: &mut graph_out,
            senders: IndexOut::I64(&mut s),
            receivers: IndexOut::I64(&mut r),
            n_node: IndexOut::U32(&mut nn),
            n_edge: IndexOut::I64(&mut ne),
        },
        node_graph: IndexOut::I32(&mut ng),
        graph_mask: &mut mask,
    };
    collate(&store, &patterns, graphs, padded, &mut out)?;
    let (n, e, g) = (padded.nodes, padded.edges, padded.graphs);
    Ok(Written {
        z: z[..n].to_vec(),
        y: y[..2 * g].to_vec(),
        senders: s[..e].to_vec(),
        receivers: r[..e].to_vec(),
        node_graph: ng[..n].iter().map(|&x| i64::from(x)).collect(),
        n_node: nn[..g].iter().map(|&x| i64::from(x)).collect(),
        n_edge: ne[..g].to_vec(),
        mask: mask[..g].to_vec(),
    })
}

/// The fixture's output columns over `z` (a byte per node) and `y` (2 bytes per graph).
fn row_columns<'a>(z: &'a mut [u8], y: &'a mut [u8]) -> [[RowsOut<'a>; 1]; 2] {
    [
        [RowsOut {
            bytes: z,
            row_bytes: 1,
        }],
        [RowsOut {
            bytes: y,
            row_bytes: 2,
        }],
    ]
}

fn stored<'a>(f: &'a Fixture, full: &'a [bool]) -> EdgeSource<'a, i64, i32> {
    EdgeSource::Stored {
        offsets: &f.edge_offsets,
        senders: &f.senders,
        receivers: &f.receivers,
        full,
    }
}

#[test]
fn stored_edges_are_gathered_in_jraphs_padding_layout() {
    let f = fixture();
    let w = run(&f, stored(&f, &[]), &[1, 0], Shape::new(7, 10, 4)).unwrap();
    assert_eq!(w.z, vec![8, 8, 6, 1, 1, 0, 0]);
    assert_eq!(w.y, vec![20, 21, 10, 11, 0, 0, 0, 0]);
    // graph 1's edges (reversed order kept), graph 0's offset by 2, padding on node 5
    assert_eq!(w.senders, vec![0, 1, 3, 4, 2, 4, 2, 3, 5, 5]);
    assert_eq!(w.receivers, vec![1, 0, 2, 2, 3, 3, 4, 4, 5, 5]);
    assert_eq!(w.node_graph, vec![0, 0, 1, 1, 1, 2, 2]);
    assert_eq!(w.n_node, vec![2, 3, 2, 0]);
    assert_eq!(w.n_edge, vec![2, 6, 2, 0]);
    assert_eq!(w.mask, vec![true, true, false, false]);
}

#[test]
fn a_recognised_full_pattern_collates_as_its_stored_edges_do() {
    let f = fixture();
    let full = full_pattern_graphs(
        &f.node_offsets,
        &f.edge_offsets,
        &f.senders,
        &f.receivers,
        64,
    );
    // graph 1's two edges are stored in the other order: not the pattern
    assert_eq!(full, vec![true, false]);
    let padded = Shape::new(7, 10, 4);
    for graphs in [[0i64, 1], [1, 0]] {
        assert_eq!(
            run(&f, stored(&f, &full), &graphs, padded).unwrap(),
            run(&f, stored(&f, &[]), &graphs, padded).unwrap()
        );
    }
    // a node limit below the graph's size leaves it read from the store
    let small = full_pattern_graphs(
        &f.node_offsets,
        &f.edge_offsets,
        &f.senders,
        &f.receivers,
        2,
    );
    assert_eq!(small, vec![false, false]);
}

#[test]
fn full_graphs_match_their_stored_pattern() {
    let f = fixture();
    let only_first = run(&f, stored(&f, &[]), &[0], Shape::new(4, 8, 2)).unwrap();
    let made = run(&f, EdgeSource::Full, &[0], Shape::new(4, 8, 2)).unwrap();
    assert_eq!(made, only_first);
}

#[test]
fn bad_plans_are_errors_before_anything_is_written() {
    let f = fixture();
    let err = |graphs: &[i64], padded| {
        run(&f, stored(&f, &[]), graphs, padded)
            .unwrap_err()
            .to_string()
    };
    assert!(
        err(&[2], Shape::new(7, 10, 4)).contains("the store holds graphs 0..2"),
        "{}",
        err(&[2], Shape::new(7, 10, 4))
    );
    assert!(err(&[-1], Shape::new(7, 10, 4)).contains("indices[0] = -1"));
    assert!(err(&[0, 1], Shape::new(5, 10, 4)).contains("cannot hold"));
    assert!(err(&[0, 1], Shape::new(7, 7, 4)).contains("cannot hold"));
    assert!(err(&[0], Shape::new(9, 10, 4)).contains("capacity"));
    // a graph of more nodes than the patterns cover is refused, not a panic
    let store = Store::<i64, i64, i32> {
        node_offsets: &f.node_offsets,
        edges: EdgeSource::Full,
        node_rows: &[],
        edge_rows: &[],
        graph_rows: &[],
    };
    let (mut s, mut r, mut ng, mut nn, mut ne, mut m) = (
        vec![0i32; 12],
        vec![0i32; 12],
        vec![0i32; 8],
        vec![0i32; 4],
        vec![0i32; 4],
        vec![false; 4],
    );
    let mut patterns = FullPatterns::default();
    patterns.cover(2);
    let mut attempt = |patterns: &FullPatterns| {
        let mut out = Outputs {
            columns: PaddedColumns {
                node_rows: &mut [],
                edge_rows: &mut [],
                graph_rows: &mut [],
                senders: IndexOut::I32(&mut s),
                receivers: IndexOut::I32(&mut r),
                n_node: IndexOut::I32(&mut nn),
                n_edge: IndexOut::I32(&mut ne),
            },
            node_graph: IndexOut::I32(&mut ng),
            graph_mask: &mut m,
        };
        collate(&store, patterns, &[0i64], Shape::new(4, 6, 2), &mut out).map_err(|e| e.to_string())
    };
    let e = attempt(&patterns).unwrap_err();
    assert!(e.contains("no full pattern of 3 nodes"), "{e}");
    patterns.cover(3);
    attempt(&patterns).unwrap();
    assert_eq!(&r[..6], &[0, 0, 1, 1, 2, 2]);
    assert_eq!(&s[..6], &[1, 2, 0, 2, 0, 1]);
}

#[test]
fn stores_are_checked_where_they_enter() {
    let f = fixture();
    let check = |node_offsets: &[i64], senders: &[i32], z: &[u8]| {
        let node_rows = [Rows {
            bytes: z,
            row_bytes: 1,
        }];
        Store {
            node_offsets,
            edges: EdgeSource::Stored {
                offsets: &f.edge_offsets,
                senders,
                receivers: &f.receivers,
                full: &[],
            },
            node_rows: &node_rows,
            edge_rows: &[],
            graph_rows: &[],
        }
        .check()
        .map_err(|e| e.to_string())
    };
    assert_eq!(check(&f.node_offsets, &f.senders, &f.z), Ok(()));
    assert!(
        check(&[1, 3, 5], &f.senders, &f.z)
            .unwrap_err()
            .contains("must start at 0")
    );
    assert!(
        check(&[0, 3, 2], &f.senders, &f.z)
            .unwrap_err()
            .contains("decreases at graph 1")
    );
    assert!(
        check(&f.node_offsets, &f.senders, &f.z[..4])
            .unwrap_err()
            .contains("expected 5 rows")
    );
    let mut bad = f.senders.clone();
    bad[7] = 2;
    assert!(
        check(&f.node_offsets, &bad, &f.z)
            .unwrap_err()
            .contains("edge 7 of graph 1")
    );
    bad[7] = -1;
    assert!(
        check(&f.node_offsets, &bad, &f.z)
            .unwrap_err()
            .contains("edge 7 of graph 1")
    );
    assert!(
        check(&f.node_offsets, &f.senders[..7], &f.z)
            .unwrap_err()
            .contains("8 stored edges")
    );
}

#[test]
fn padding_alone_is_the_collations_padding_and_refuses_short_columns() {
    // the batch of the first test with its real rows already in place (as NumPy joins jraph's
    // tuples) and garbage after them: pad writes what collate wrote there
    let (mut z, mut y) = (
        vec![8u8, 8, 6, 1, 1, 0xAA, 0xAA],
        vec![20u8, 21, 10, 11, 0xAA, 0xAA, 0xAA, 0xAA],
    );
    let mut s: Vec<i64> = vec![0, 1, 3, 4, 2, 4, 2, 3, -1, -1];
    let mut r: Vec<i64> = vec![1, 0, 2, 2, 3, 3, 4, 4, -1, -1];
    let (mut nn, mut ne) = (vec![2i32, 3, -1, -1], vec![2i64, 6, -1, -1]);
    let (real, padded) = (Shape::new(5, 8, 2), Shape::new(7, 10, 4));
    let [mut node_out, mut graph_out] = row_columns(&mut z, &mut y);
    let mut p = PaddedColumns {
        node_rows: &mut node_out,
        edge_rows: &mut [],
        graph_rows: &mut graph_out,
        senders: IndexOut::I64(&mut s),
        receivers: IndexOut::I64(&mut r),
        n_node: IndexOut::I32(&mut nn),
        n_edge: IndexOut::I64(&mut ne),
    };
    assert!(matches!(
        pad(real, Shape::new(5, 10, 4), &mut p),
        Err(Error::PaddingTooSmall { .. })
    ));
    let e = pad(real, Shape::new(7, 11, 4), &mut p).unwrap_err();
    assert!(e.to_string().contains("capacity"), "{e}");
    pad(real, padded, &mut p).unwrap();
    let f = fixture();
    let w = run(&f, stored(&f, &[]), &[1, 0], padded).unwrap();
    assert_eq!(z, w.z);
    assert_eq!(y, w.y);
    assert_eq!((s, r), (w.senders, w.receivers));
    assert_eq!(
        nn.iter().map(|&x| i64::from(x)).collect::<Vec<_>>(),
        w.n_node
    );
    assert_eq!(ne, w.n_edge);
}
