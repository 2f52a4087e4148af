//! QM9 importers and the dataset, offline: the committed fixture, hand-written CSV and xyz files
//! with values checked by hand, splits, and corrupt input.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{DatasetContext, DatasetSpec, SplitName};
use geobatch_dataset_qm9::records::Qm9Records;
use geobatch_dataset_qm9::{Qm9Spec, import, store};
use std::path::Path;

const HEADER: &str = "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,Heatcapacity_Cv_cal_mol_K";
const METHANE: &str = r#""dsgdb9nsd_000001.xyz",1,"C","InChI=1S/CH4/h1H4",5,"[4,1,0,0,0]","['C','H','H','H','H']","[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],[-0.5238136345,1.4379326443,0.9063972942]]","[-0.535689,0.133921,0.133922,0.133923,0.133923]","[1341.307,1341.3284]",157.7118,157.70997,157.70699,0.,13.21,-0.3877,0.1171,0.5048,35.3641,0.044749,-40.47893,-40.476062,-40.475117,-40.498597,6.469"#;
const WATER: &str = r#""dsgdb9nsd_000003.xyz",3,"O","InChI=1S/H2O/h1H2",3,"[2,0,0,1,0]","['O','H','H']","[[-0.0343604951,0.9775395708,7.6015923E-3],[0.0647664923,0.0205721989,0.0015346341],[0.8717903737,1.3007924048,0.0006931336]]","[-0.589706,0.294853,0.294853]","[1671.4222,3803.6305,3907.698]",799.58812,437.90386,282.94545,1.8511,6.31,-0.2928,0.0687,0.3615,19.0002,0.021375,-76.404702,-76.401867,-76.400922,-76.422349,6.002"#;

/// Hand calculation: (U0 - (E_C + 4 E_H)) x 27.21138602 = (-40.47893 + 39.847864) x 27.21138602.
const METHANE_U0_EV: f64 = -17.172_180_5;
/// (-76.404702 - (-75.064579 - 2 x 0.500273)) x 27.21138602.
const WATER_U0_EV: f64 = -9.240_360_8;

fn csv_folder(dir: &Path, rows: &[&str]) {
    let body = format!("{HEADER}\n{}\n", rows.join("\n"));
    std::fs::write(dir.join("qm9_part1.csv"), &body).unwrap();
    std::fs::write(dir.join("qm9_part2.csv"), format!("{HEADER}\n")).unwrap();
    std::fs::write(dir.join("qm9_part3.csv"), format!("{HEADER}\n")).unwrap();
    std::fs::write(
        dir.join("qm9_polarizability.csv"),
        "XYZ_file,A_xx,A_xy,A_yy,A_xz,A_yz,A_zz\n\"dsgdb9nsd_000001.xyz\",13.211,0.000,13.211,0.000,0.000,13.211\n",
    )
    .unwrap();
}

fn spec(source: &str) -> Qm9Spec {
    toml::from_str(&format!("source = {source:?}")).unwrap()
}

/// The error of loading `source` (seed 1), as text.
fn load_err(source: &Path, data_dir: &Path) -> String {
    spec(source.to_str().unwrap())
        .load(&DatasetContext {
            seed: 1,
            data_dir: data_dir.to_path_buf(),
        })
        .err()
        .unwrap()
        .to_string()
}

fn load(spec: &Qm9Spec, data_dir: &Path, seed: u64) -> Box<dyn geobatch_core::Dataset> {
    spec.load(&DatasetContext {
        seed,
        data_dir: data_dir.to_path_buf(),
    })
    .unwrap()
}

#[test]
fn csv_import_matches_hand_checked_values() {
    let dir = tempfile::tempdir().unwrap();
    csv_folder(dir.path(), &[METHANE, WATER]);
    let r = import::import(dir.path(), None, false).unwrap();
    assert_eq!(r.len(), 2);
    assert_eq!(r.id, vec!["dsgdb9nsd_000001", "dsgdb9nsd_000003"]);
    assert_eq!(r.index, vec![1, 3]);
    assert_eq!(r.smiles, vec!["C", "O"]);
    assert_eq!(&r.atomic_numbers[r.atoms(0)], &[6, 1, 1, 1, 1]);
    assert_eq!(&r.atomic_numbers[r.atoms(1)], &[8, 1, 1]);
    // water's first z coordinate is written 7.6015923E-3
    assert_eq!(r.positions[3 * 5 + 2], 0.007_601_592_3_f64 as f32);
    assert_eq!(r.positions[3], 0.002_150_416_f32);
    assert_eq!(r.property("mu").unwrap(), &[0.0, 1.8511]); // methane's dipole is written `0.`
    assert_eq!(r.property("U0").unwrap(), &[-40.47893, -76.404702]);
    assert_eq!(r.property("Cv").unwrap(), &[6.469, 6.002]);
    assert_eq!(r.polarizability("alpha_zz").unwrap(), &[Some(13.211), None]);
    let u0 = Qm9Spec::target_values(&r, "U0").unwrap();
    assert!((f64::from(u0[0]) - METHANE_U0_EV).abs() < 1e-4, "{}", u0[0]);
    assert!((f64::from(u0[1]) - WATER_U0_EV).abs() < 1e-4, "{}", u0[1]);
    assert_eq!(
        Qm9Spec::target_values(&r, "gap").unwrap(),
        vec![0.5048, 0.3615]
    );
}

#[test]
fn xyz_import_reads_fortran_exponents() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dsgdb9nsd_000003.xyz"),
        "3\ngdb 3\t799.58812\t437.90386\t282.94545\t1.8511\t6.31\t-0.2928\t0.0687\t0.3615\t19.0002\t0.021375\t-76.404702\t-76.401867\t-76.400922\t-76.422349\t6.002\t\n\
         O\t-0.0343604951\t 0.9775395708\t 7.6015923*^-3\t-0.589706\n\
         H\t 0.0647664923\t 0.0205721989\t 0.0015346341\t 0.294853\n\
         H\t 0.8717903737\t 1.3007924048\t 6.931336*^-4\t 0.294853\n\
         1671.4222\t3803.6305\t3907.698\nO\tO\t\nInChI=1S/H2O/h1H2\tInChI=1S/H2O/h1H2\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("dsgdb9nsd_000002.xyz"),
        "4\ngdb 2\t293.60975\t293.54111\t191.39397\t1.6256\t9.46\t-0.257\t0.0829\t0.3399\t26.1563\t0.034358\t-56.525887\t-56.523026\t-56.522082\t-56.544961\t6.316\t\n\
         N\t-0.0404260543\t 1.0241077531\t 0.0625637998\t-0.707143\n\
         H\t 0.0172574639\t 0.0125452063\t-0.0273771593\t 0.235712\n\
         H\t 0.9157893661\t 1.3587451948\t-0.0287577581\t 0.235712\n\
         H\t-0.5202777357\t 1.3435321258\t-0.7755426124\t 0.23572\n\
         1103.8733\t1684.1158\t1684.3072\t3458.7145\t3575.2414\t3575.3343\nN\tN\t\nInChI=1S/H3N/h1H3\tInChI=1S/H3N/h1H3\n",
    )
    .unwrap();
    let r = import::import(dir.path(), None, false).unwrap();
    assert_eq!(r.index, vec![2, 3], "files are read in name order");
    assert_eq!(&r.atomic_numbers[r.atoms(0)], &[7, 1, 1, 1]);
    assert_eq!(r.positions[3 * 4 + 2], 0.007_601_592_3_f64 as f32);
    assert_eq!(r.positions[3 * 6 + 2], 0.000_693_133_6_f64 as f32);
    assert_eq!(r.smiles, vec!["N", "O"]);
    let u0 = Qm9Spec::target_values(&r, "U0").unwrap();
    assert!((f64::from(u0[1]) - WATER_U0_EV).abs() < 1e-4);
    assert_eq!(r.property("A").unwrap(), &[293.60975, 799.58812]);

    // and the Parquet round trip keeps every column
    let out = dir.path().join("qm9.parquet");
    store::write(&r, &out, "test").unwrap();
    let back: Qm9Records = store::read(std::fs::File::open(&out).unwrap(), "x").unwrap();
    assert_eq!(back, r);

    // a broken line is reported with file and line
    std::fs::write(dir.path().join("dsgdb9nsd_000004.xyz"), "2\ngdb 4\t1\t2\n").unwrap();
    let err = import::import(dir.path(), None, false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("dsgdb9nsd_000004.xyz, line 2"), "{err}");
}

#[test]
fn the_fixture_holds_the_first_thousand_molecules() {
    let dir = tempfile::tempdir().unwrap();
    let ds = load(&spec("fixture"), dir.path(), 42);
    let sizes: Vec<usize> = SplitName::ALL.iter().map(|&s| ds.split(s).len()).collect();
    assert_eq!(sizes, vec![800, 100, 100]);
    assert_eq!(
        ds.species_classes(),
        &[6, 1, 7, 8, 9],
        "first-seen order C, H, N, O, F as in the study"
    );
    assert_eq!(ds.target_names(), &["U0".to_string()]);
    assert_eq!(ds.target_units(), vec!["eV".to_string()]);
    // find methane and water wherever the split put them, and check them by hand
    let mut seen = 0;
    for s in SplitName::ALL {
        let set = ds.split(s);
        for g in 0..set.len() {
            let (want, natoms) = match set.id(g) {
                "dsgdb9nsd_000001" => (METHANE_U0_EV, 5),
                "dsgdb9nsd_000003" => (WATER_U0_EV, 3),
                _ => continue,
            };
            seen += 1;
            assert!((f64::from(set.targets(g)[0]) - want).abs() < 1e-4);
            assert_eq!(set.sizes()[g].nodes as usize, natoms);
            assert_eq!(
                set.sizes()[g].edges as usize,
                natoms * (natoms - 1),
                "fully connected"
            );
            let p = &set.positions()[set.node_range(g)];
            if natoms == 5 {
                assert_eq!(
                    p[0],
                    [-0.012_698_135_9_f64, 1.085_804_157_8, 0.008_000_995_8].map(|x| x as f32)
                );
            }
        }
    }
    assert_eq!(seen, 2);
    let stats = ds.target_stats();
    let train = ds.split(SplitName::Train);
    let mean = (0..train.len())
        .map(|g| f64::from(train.targets(g)[0]))
        .sum::<f64>()
        / train.len() as f64;
    assert!((stats[0].mean - mean).abs() < 1e-9);
    assert!(stats[0].std > 1.0, "U0 atomisation energies spread over eV");
}

#[test]
fn splits_are_seeded_saved_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let s = spec("fixture");
    let ids = |ds: &dyn geobatch_core::Dataset, split| {
        let set = ds.split(split);
        (0..set.len())
            .map(|g| set.id(g).to_string())
            .collect::<Vec<_>>()
    };
    let a = load(&s, dir.path(), 1);
    let files: Vec<_> = std::fs::read_dir(dir.path().join("splits"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "the split was saved");
    let b = load(&s, dir.path(), 1);
    assert_eq!(
        ids(a.as_ref(), SplitName::Test),
        ids(b.as_ref(), SplitName::Test)
    );
    let c = load(&s, dir.path(), 2);
    assert_ne!(
        ids(a.as_ref(), SplitName::Test),
        ids(c.as_ref(), SplitName::Test)
    );
    // the saved file is what is used: edit it (swap a validation and a test molecule, the
    // sizes kept; overlaps and other sizes are refused, see core's split checks) and the split
    // follows
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
    let (v0, t0) = (saved["validation"][0].clone(), saved["test"][0].clone());
    (saved["validation"][0], saved["test"][0]) = (t0.clone(), v0.clone());
    std::fs::write(&files[0], saved.to_string()).unwrap();
    let d = load(&s, dir.path(), 1);
    let test = ids(d.as_ref(), SplitName::Test);
    assert_eq!(test[0], v0.as_str().unwrap());
    assert_eq!(
        ids(d.as_ref(), SplitName::Validation)[0],
        t0.as_str().unwrap()
    );
    // a split file naming unknown molecules is refused
    saved["test"][0] = serde_json::json!("dsgdb9nsd_999999");
    std::fs::write(&files[0], saved.to_string()).unwrap();
    let err = s
        .load(&DatasetContext {
            seed: 1,
            data_dir: dir.path().to_path_buf(),
        })
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("graph \"dsgdb9nsd_999999\" of the test split is not in the dataset"),
        "{err}"
    );
}

#[test]
fn corrupt_and_truncated_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    a_csv_cut_mid_row_names_its_line(dir.path());
    a_bad_number_names_the_line_and_column(dir.path());
    the_line_is_the_files_line_whatever_the_line_endings(dir.path());
    atom_counts_that_disagree_are_refused(dir.path());
    a_non_parquet_and_a_truncated_parquet_file_are_named(dir.path());
    a_parquet_file_of_something_else_says_so(dir.path());
    a_null_property_names_the_molecule(dir.path());
    a_missing_file_says_how_to_get_it(dir.path());
}

/// A CSV cut in the middle of a row names the file and the line.
fn a_csv_cut_mid_row_names_its_line(dir: &Path) {
    csv_folder(dir, &[METHANE, &WATER[..120]]);
    let err = import::import(dir, None, false).unwrap_err().to_string();
    assert!(err.contains("qm9_part1.csv, line 3"), "{err}");
}

/// A bad number names the file, line and column, and quotes the value.
fn a_bad_number_names_the_line_and_column(dir: &Path) {
    csv_folder(dir, &[&METHANE.replace("157.7118", "15x.7")]);
    let err = import::import(dir, None, false).unwrap_err().to_string();
    assert!(
        err.contains("qm9_part1.csv, line 2, column RotA_GHz") && err.contains("\"15x.7\""),
        "{err}"
    );
}

/// With CRLF and a blank line, the line named is the file's line, not the record number.
fn the_line_is_the_files_line_whatever_the_line_endings(dir: &Path) {
    csv_folder(
        dir,
        &[&format!(
            "{METHANE}\r\n\r\n{}",
            METHANE
                .replace("000001", "000002")
                .replace("157.7118", "15x.7")
        )],
    );
    let text = std::fs::read_to_string(dir.join("qm9_part1.csv")).unwrap();
    std::fs::write(dir.join("qm9_part1.csv"), text.replacen("\n", "\r\n", 1)).unwrap();
    let err = import::import(dir, None, false).unwrap_err().to_string();
    assert!(
        err.contains("qm9_part1.csv, line 4, column RotA_GHz"),
        "{err}"
    );
}

/// An atom count that disagrees with the elements listed is refused.
fn atom_counts_that_disagree_are_refused(dir: &Path) {
    csv_folder(dir, &[&METHANE.replace("\",5,\"[4", "\",6,\"[4")]);
    let err = import::import(dir, None, false).unwrap_err().to_string();
    assert!(err.contains("N_atoms = 6 but 5 elements"), "{err}");
}

/// A file that is not Parquet, and a truncated one, are refused naming the file.
fn a_non_parquet_and_a_truncated_parquet_file_are_named(dir: &Path) {
    let bad = dir.join("bad.parquet");
    std::fs::write(&bad, b"definitely not parquet").unwrap();
    let err = load_err(&bad, dir);
    assert!(
        err.contains("bad.parquet") && err.contains("not a readable Parquet file"),
        "{err}"
    );
    let good = std::fs::read(env_fixture()).unwrap();
    let cut = dir.join("cut.parquet");
    std::fs::write(&cut, &good[..good.len() / 2]).unwrap();
    let err = load_err(&cut, dir);
    assert!(err.contains("cut.parquet"), "{err}");
}

/// A Parquet file that geobatch did not write says so in words, with the import command.
fn a_parquet_file_of_something_else_says_so(dir: &Path) {
    let other = dir.join("other.parquet");
    let column: arrow_array::ArrayRef =
        std::sync::Arc::new(arrow_array::Int32Array::from(vec![1, 2]));
    let table = arrow_array::RecordBatch::try_from_iter([("a", column)]).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&other).unwrap(),
        table.schema(),
        None,
    )
    .unwrap();
    w.write(&table).unwrap();
    w.close().unwrap();
    let err = load_err(&other, dir);
    assert!(
        err.contains("other.parquet: a Parquet file that geobatch did not write")
            && err.contains("geobatch data import qm9")
            && !err.contains("None"),
        "{err}"
    );
}

/// A null property (the file says "not null") is refused at load, naming the molecule.
fn a_null_property_names_the_molecule(dir: &Path) {
    let fixture = std::fs::File::open(env_fixture()).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(fixture).unwrap();
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned();
    let batches: Vec<arrow_array::RecordBatch> =
        builder.build().unwrap().map(|b| b.unwrap()).collect();
    let first = &batches[0];
    let u0 = first.schema().index_of("U0").unwrap();
    let mut values: Vec<Option<f64>> = first
        .column(u0)
        .as_any()
        .downcast_ref::<arrow_array::Float64Array>()
        .unwrap()
        .iter()
        .collect();
    values[2] = None;
    let mut columns = first.columns().to_vec();
    columns[u0] = std::sync::Arc::new(arrow_array::Float64Array::from(values));
    let fields: Vec<_> = first
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(fields));
    let nulled = arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap();
    let path = dir.join("null.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_key_value_metadata(kv)
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&path).unwrap(),
        schema,
        Some(props),
    )
    .unwrap();
    w.write(&nulled).unwrap();
    w.close().unwrap();
    let err = load_err(&path, dir);
    let id = store::read(std::fs::File::open(env_fixture()).unwrap(), "f")
        .unwrap()
        .id[2]
        .clone();
    assert!(
        err.contains("null.parquet") && err.contains(&id) && err.contains("target U0 is NaN"),
        "{err}"
    );
}

/// A missing file says how to get it.
fn a_missing_file_says_how_to_get_it(dir: &Path) {
    let err = load_err(Path::new("nowhere.parquet"), dir);
    assert!(
        err.contains("nowhere.parquet") && err.contains("geobatch data fetch qm9"),
        "{err}"
    );
}

fn env_fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/qm9-1000.parquet")
}

#[test]
fn unknown_targets_list_the_known_ones() {
    let s: Qm9Spec = toml::from_str("targets = [\"U0\", \"energy\"]").unwrap();
    let err = s.validate().unwrap_err().to_string();
    assert!(
        err.contains("\"energy\"") && err.contains("homo") && err.contains("U0_total"),
        "{err}"
    );
}

#[test]
fn wheel_import_matches_the_fixture_when_the_wheel_is_around() {
    // The wheel is 104 MB and not committed; `geobatch data fetch qm9` puts it in data/downloads.
    let wheel = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/downloads/qm9pack-1.0.3-py3-none-any.whl");
    if !wheel.is_file() {
        eprintln!("skipped: {} absent", wheel.display());
        return;
    }
    let r = import::from_wheel(&wheel, Some(1000), false).unwrap();
    let fixture = store::read(
        bytes::Bytes::from(std::fs::read(env_fixture()).unwrap()),
        "fixture",
    )
    .unwrap();
    assert_eq!(r, fixture);
}

/// Issue 82: QM9 written a part at a time (read a record batch at a time, twice: the ids for
/// the split, then the molecules) holds the splits of a whole load.
#[test]
fn qm9_written_in_parts_holds_the_splits_of_a_whole_load() {
    let dir = tempfile::tempdir().unwrap();
    let spec: Qm9Spec = toml::from_str(
        "source = \"fixture\"\ntargets = [\"U0\", \"gap\"]\ngraph = { kind = \"knn\", k = 6 }",
    )
    .unwrap();
    let ctx = DatasetContext {
        seed: 2,
        data_dir: dir.path().to_path_buf(),
    };
    let parts = geobatch_testkit::parts::parts_match_load(&spec, &ctx, 128);
    // 800 / 100 / 100 molecules in parts of at most 128
    assert_eq!(parts, 7 + 1 + 1);
}
