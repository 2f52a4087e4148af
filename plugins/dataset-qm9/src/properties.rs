//! QM9's scalar properties: names, source columns and units (Ramakrishnan et al. 2014, Table 3).

/// One scalar property of a molecule.
#[derive(Debug, Clone, Copy)]
pub struct Property {
    /// Name in geobatch's Parquet file and as a target.
    pub name: &'static str,
    /// Column in the qm9pack CSV files.
    pub csv: &'static str,
    /// Unit as stored.
    pub unit: &'static str,
    /// What it is.
    pub doc: &'static str,
}

/// The 15 scalar properties of the xyz files' second line, in that order.
pub const PROPERTIES: [Property; 15] = [
    Property {
        name: "A",
        csv: "RotA_GHz",
        unit: "GHz",
        doc: "rotational constant A",
    },
    Property {
        name: "B",
        csv: "RotB_GHz",
        unit: "GHz",
        doc: "rotational constant B",
    },
    Property {
        name: "C",
        csv: "RotC_GHz",
        unit: "GHz",
        doc: "rotational constant C",
    },
    Property {
        name: "mu",
        csv: "Dipole_debye",
        unit: "D",
        doc: "dipole moment",
    },
    Property {
        name: "alpha",
        csv: "Polarizability_bohr3",
        unit: "bohr^3",
        doc: "isotropic polarizability",
    },
    Property {
        name: "homo",
        csv: "HOMO_au",
        unit: "Ha",
        doc: "energy of the HOMO",
    },
    Property {
        name: "lumo",
        csv: "LUMO_au",
        unit: "Ha",
        doc: "energy of the LUMO",
    },
    Property {
        name: "gap",
        csv: "HOMO_LUMO_gap_au",
        unit: "Ha",
        doc: "HOMO-LUMO gap",
    },
    Property {
        name: "r2",
        csv: "R2_bohr2",
        unit: "bohr^2",
        doc: "electronic spatial extent",
    },
    Property {
        name: "zpve",
        csv: "ZPVE_au",
        unit: "Ha",
        doc: "zero point vibrational energy",
    },
    Property {
        name: "U0",
        csv: "InternalEnergy_0K_au",
        unit: "Ha",
        doc: "internal energy at 0 K",
    },
    Property {
        name: "U",
        csv: "InternalEnergy_298K_au",
        unit: "Ha",
        doc: "internal energy at 298.15 K",
    },
    Property {
        name: "H",
        csv: "Enthalphy_298K_au",
        unit: "Ha",
        doc: "enthalpy at 298.15 K",
    },
    Property {
        name: "G",
        csv: "GibbsFreeEnergy_298K_au",
        unit: "Ha",
        doc: "free energy at 298.15 K",
    },
    Property {
        name: "Cv",
        csv: "Heatcapacity_Cv_cal_mol_K",
        unit: "cal/(mol K)",
        doc: "heat capacity at 298.15 K",
    },
];

/// Components of the polarizability tensor (qm9pack's `qm9_polarizability.csv`), in bohr^3.
pub const POLARIZABILITY: [(&str, &str); 6] = [
    ("alpha_xx", "A_xx"),
    ("alpha_xy", "A_xy"),
    ("alpha_yy", "A_yy"),
    ("alpha_xz", "A_xz"),
    ("alpha_yz", "A_yz"),
    ("alpha_zz", "A_zz"),
];

/// Hartree to electronvolt, as in the study (spec §4.1).
pub const HARTREE_EV: f64 = 27.211_386_02;

/// Energies of the free atoms at 0 K (Ha) that U0 atomisation energies subtract (spec §4.1).
pub fn reference_energy_u0(z: u8) -> Option<f64> {
    match z {
        1 => Some(-0.500_273),
        6 => Some(-37.846_772),
        7 => Some(-54.583_861),
        8 => Some(-75.064_579),
        9 => Some(-99.718_730),
        _ => None,
    }
}

/// Targets a QM9 dataset can train on: (name, unit, meaning). `U0` is the study's target.
pub fn targets() -> Vec<(String, String, String)> {
    let mut v = vec![
        (
            "U0".to_string(),
            "eV".to_string(),
            "atomisation energy at 0 K: (U0 - sum of free-atom energies) x 27.21138602".to_string(),
        ),
        (
            "U0_total".to_string(),
            "Ha".to_string(),
            "total internal energy at 0 K as stored".to_string(),
        ),
    ];
    for p in PROPERTIES.iter().filter(|p| p.name != "U0") {
        v.push((p.name.to_string(), p.unit.to_string(), p.doc.to_string()));
    }
    for (name, _) in POLARIZABILITY {
        v.push((
            name.to_string(),
            "bohr^3".to_string(),
            "polarizability tensor component".to_string(),
        ));
    }
    v
}
