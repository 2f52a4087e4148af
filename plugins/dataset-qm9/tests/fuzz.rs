//! Mutation fuzzing of the QM9 importers and store: the qm9pack CSV layout, an original xyz file
//! and the committed Parquet fixture, damaged (lines lost or repeated, hostile values, flipped
//! bytes, cut short), must load or fail with an error naming the file, never panic, hang or
//! allocate by a damaged count. `GEOBATCH_FUZZ_CASES` runs a longer campaign.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use geobatch_core::{DatasetContext, DatasetSpec};
use geobatch_dataset_qm9::{Qm9Spec, parse};
use geobatch_testkit::fuzz;
use proptest::prelude::*;
use std::path::Path;

const HEADER: &str = "XYZ_file,Index,SMILES,InChi,N_atoms,Stoichiometry,Elements,XYZ_Ang,Mulliken_pop,Harmonic_Freq_cmi,RotA_GHz,RotB_GHz,RotC_GHz,Dipole_debye,Polarizability_bohr3,HOMO_au,LUMO_au,HOMO_LUMO_gap_au,R2_bohr2,ZPVE_au,InternalEnergy_0K_au,InternalEnergy_298K_au,Enthalphy_298K_au,GibbsFreeEnergy_298K_au,Heatcapacity_Cv_cal_mol_K";
const METHANE: &str = r#""dsgdb9nsd_000001.xyz",1,"C","InChI=1S/CH4/h1H4",5,"[4,1,0,0,0]","['C','H','H','H','H']","[[-0.0126981359,1.0858041578,0.0080009958],[0.002150416,-0.0060313176,0.0019761204],[1.0117308433,1.4637511618,0.0002765748],[-0.540815069,1.4475266138,-0.8766437152],[-0.5238136345,1.4379326443,0.9063972942]]","[-0.535689,0.133921,0.133922,0.133923,0.133923]","[1341.307,1341.3284]",157.7118,157.70997,157.70699,0.,13.21,-0.3877,0.1171,0.5048,35.3641,0.044749,-40.47893,-40.476062,-40.475117,-40.498597,6.469"#;
const WATER_XYZ: &str = "3\ngdb 3\t799.58812\t437.90386\t282.94545\t1.8511\t6.31\t-0.2928\t0.0687\t0.3615\t19.0002\t0.021375\t-76.404702\t-76.401867\t-76.400922\t-76.422349\t6.002\nO\t-0.0343604951\t 0.9775395708\t 0.0007601594\t-0.589706\nH\t 0.0647664923\t 0.0205721989\t 0.0015346341\t 0.294853\nH\t 0.8717903737\t 1.3007924048\t 0.0006931336\t 0.294853\n1671.4222\t3803.6305\t3907.698\nO\tO\nInChI=1S/H2O/h1H2\tInChI=1S/H2O/h1H2\n";

fn csv_text() -> Vec<u8> {
    format!(
        "{HEADER}\n{METHANE}\n{}\n",
        METHANE.replace("000001", "000002")
    )
    .into_bytes()
}

fn load(source: &Path, dir: &Path) -> Result<(), String> {
    let spec: Qm9Spec =
        toml::from_str(&format!("source = {:?}", source.display().to_string())).unwrap();
    spec.load(&DatasetContext {
        seed: 1,
        data_dir: dir.to_path_buf(),
    })
    .map(drop)
    .map_err(|e| e.to_string())
}

proptest! {
    #![proptest_config(fuzz::config(200))]

    #[test]
    fn a_damaged_xyz_file_is_an_error_with_a_line(text in fuzz::mutated(WATER_XYZ.as_bytes().to_vec(), 4)) {
        match parse::xyz(&String::from_utf8_lossy(&text), "dsgdb9nsd_000003") {
            Ok(m) => prop_assert_eq!(m.atomic_numbers.len(), m.positions.len()),
            Err((line, _)) => prop_assert!(line >= 1),
        }
    }

    #[test]
    fn a_damaged_csv_part_loads_or_names_the_file(bytes in fuzz::mutated(csv_text(), 3)) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("qm9");
        std::fs::create_dir(&src).unwrap();
        std::fs::write(src.join("qm9_part1.csv"), &bytes).unwrap();
        for part in ["qm9_part2.csv", "qm9_part3.csv"] {
            std::fs::write(src.join(part), format!("{HEADER}\n")).unwrap();
        }
        if let Err(e) = load(&src, dir.path()) {
            prop_assert!(e.contains("qm9_part1.csv") || e.contains("qm9"), "{}", e);
        }
    }
}

proptest! {
    #![proptest_config(fuzz::config(48))]

    #[test]
    fn a_damaged_parquet_store_loads_or_names_the_file(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)
    ) {
        let mut bytes = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/qm9-1000.parquet"),
        )
        .unwrap();
        let len = bytes.len();
        for (i, b) in flips {
            bytes[i % len] = b;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.parquet");
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = load(&path, dir.path()) {
            prop_assert!(e.contains("damaged.parquet"), "{}", e);
        }
    }
}

/// A flipped byte that made the Parquet decoder panic ("offset + len out of bounds", found by the
/// fuzz test above) is an error naming the file, not a crash; so are 64 flips across the file.
#[test]
fn flipped_bytes_in_the_parquet_store_never_panic() {
    let good = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/fixtures/qm9-1000.parquet"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.parquet");
    let found = (18_068_818_853_373_250_293_u64 % good.len() as u64) as usize;
    let flips = std::iter::once((found, 89)).chain((0..64).map(|k| (k * good.len() / 64, 0x59)));
    let mut errors = 0;
    for (i, b) in flips {
        let mut bytes = good.clone();
        bytes[i] = b;
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = load(&path, dir.path()) {
            assert!(e.contains("damaged.parquet"), "{e}");
            errors += 1;
        }
    }
    assert!(errors > 0, "no flip was noticed");
}
