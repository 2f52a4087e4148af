//! The frame reader on well-formed and broken extended XYZ text.

use super::*;

const TWO: &str = "2\nLattice=\"4 0 0 0 4 0 0 0 4\" Properties=species:S:1:pos:R:3:forces:R:3 energy=-1.5 pbc=\"T T F\"\nNa 0 0 0 0.1 0.2 0.3\ncl 2 2 2 -0.1 -0.2 -0.3\n\n1\nname=x\nH 1 2 3\n";

#[test]
fn frames_read_with_lattice_pbc_and_kept_columns() {
    let keep = vec!["forces".to_string()];
    let f: Vec<Frame> = frames(TWO.as_bytes(), "t.xyz", &keep)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].numbers, vec![11, 17]);
    assert_eq!(f[0].positions[1], [2.0, 2.0, 2.0]);
    assert_eq!(f[0].pbc, [true, true, false]);
    assert_eq!(f[0].lattice.unwrap()[2], [0.0, 0.0, 4.0]);
    assert_eq!(f[0].info("energy"), Some(&Value::Real(-1.5)));
    assert_eq!(
        f[0].column("forces").unwrap().data,
        ColumnData::Real(vec![0.1, 0.2, 0.3, -0.1, -0.2, -0.3])
    );
    assert_eq!((f[1].index, f[1].line), (1, 6));
    assert_eq!(f[1].pbc, [false; 3]);
    assert_eq!(f[1].lattice, None);
    // a column a frame lacks is simply not there
    assert!(f[1].column("forces").is_none());
}

#[test]
fn errors_name_file_frame_and_line() {
    let cases = [
        ("1\n\nH 0 0\n", 3, "3 fields where Properties asks for 4"),
        ("1\n\nXx 0 0 0\n", 3, "not a chemical symbol"),
        ("1\n\nH 0 a 0\n", 3, "not a real number"),
        ("x\n", 1, "expected the number of atoms"),
        ("3\n\nH 0 0 0\n", 3, "ends after 1 of the frame's 3 atoms"),
        (
            "3\n\nH 0 0 0\nH 0 0 1\n2\n\nH 0 0 0\nH 0 0 1\n",
            5,
            "says it has 3 atoms but holds 2: this line (\"2\") reads as the next frame's",
        ),
        ("1\npbc=T\nH 0 0 0\n", 2, "no Lattice"),
        ("1\nLattice=\"1 2\"\nH 0 0 0\n", 2, "9 numbers"),
        (
            "1\nProperties=pos:R:3\nH 0 0 0\n",
            2,
            "neither species nor Z",
        ),
        (
            "1\nProperties=species:S:1:pos:R:2\nH 0 0\n",
            2,
            "must be R:3",
        ),
        ("1\nProperties=Z:I:1:pos:R:3\n0 0 0 0\n", 3, "atomic number"),
    ];
    for (text, line, what) in cases {
        let e = frames(text.as_bytes(), "bad.xyz", &[])
            .find_map(Result::err)
            .unwrap_or_else(|| panic!("{text:?} read"));
        assert_eq!(
            (e.file.as_str(), e.frame, e.line),
            ("bad.xyz", 0, line),
            "{e}"
        );
        assert!(e.message.contains(what), "{text:?}: {e}");
    }
    // the second frame is named as frame 1
    let e = frames(b"1\n\nH 0 0 0\n1\n\nH 0 0\n", "b.xyz", &[])
        .find_map(Result::err)
        .unwrap();
    assert_eq!((e.frame, e.line), (1, 6));
}

#[test]
fn without_properties_an_extra_column_is_refused_not_read_as_a_position() {
    let t = "2\nenergy=1.0\nC 6 0.0 0.0 1.5\nC 6 0.0 0.0 0.0\n";
    let e = frames(t.as_bytes(), "x.xyz", &[])
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.line, 3);
    assert!(
        e.to_string()
            .contains("5 fields, but the comment line has no Properties="),
        "{e}"
    );
    // the default's own four fields read as before
    let t = "1\nenergy=1.0\nC 0.0 0.0 1.5\n";
    let f = frames(t.as_bytes(), "x.xyz", &[]).next().unwrap().unwrap();
    assert_eq!(f.positions, vec![[0.0, 0.0, 1.5]]);
}

#[test]
fn z_wins_over_species_and_extra_fields_are_ignored() {
    let t = "2\nProperties=species:S:1:pos:R:3:Z:I:1\nC 0 0 0 8\nC 1 0 0 8 extra\n";
    let f = frames(t.as_bytes(), "z.xyz", &[]).next().unwrap().unwrap();
    assert_eq!(f.numbers, vec![8, 8]);
    assert_eq!(atomic_number(b"Og"), Some(118));
    assert_eq!(atomic_number(b"X"), None);
    assert_eq!(atomic_number(b"\xff"), None);
}
