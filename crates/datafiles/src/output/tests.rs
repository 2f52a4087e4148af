use super::*;
use std::io::Write as _;

/// Makes a node with `mknod` (root only; a test skips the device cases without it).
#[cfg(unix)]
fn mknod(path: &Path, major: u32, minor: u32) -> bool {
    std::process::Command::new("mknod")
        .arg(path)
        .args(["c", &major.to_string(), &minor.to_string()])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn refused(e: Error, words: &[&str]) {
    assert!(matches!(e, Error::Refused(_)), "{e:?}");
    let e = e.to_string();
    for w in words {
        assert!(e.contains(w), "{w:?} not in {e}");
    }
}

#[test]
fn a_new_path_is_written_and_a_file_there_only_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("predicted.xyz");
    let none = Inputs::new();
    let o = resolve(&out, "--out", &none, Accept::Streams, false).unwrap();
    assert_eq!(o, Output::New(out.clone()));
    o.write(|f| f.write_all(b"first")).unwrap();
    let e = resolve(&out, "--out", &none, Accept::Streams, false).unwrap_err();
    refused(e, &["--out", "already exists", "5 bytes", "--force"]);
    let o = resolve(&out, "--out", &none, Accept::Streams, true).unwrap();
    assert!(matches!(o, Output::Existing { bytes: 5, .. }), "{o:?}");
    o.write(|f| f.write_all(b"second")).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), b"second");
}

#[test]
fn an_input_is_never_an_output_under_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("lab.xyz");
    std::fs::write(&data, b"labels").unwrap();
    std::fs::create_dir(d.join("run")).unwrap();
    std::fs::create_dir(d.join("run/model")).unwrap();
    std::fs::write(d.join("run/model/potential.json"), b"{}").unwrap();
    let inputs = Inputs::new()
        .file(&data, "--data")
        .tree(&d.join("run"), "a file of --run");
    // the path itself, forced or not, and the same file by another name
    for (path, force) in [(data.clone(), false), (data.clone(), true)] {
        let e = resolve(&path, "--out", &inputs, Accept::Streams, force).unwrap_err();
        refused(e, &["--out", "lab.xyz", "--data", "would replace"]);
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&data, d.join("link.xyz")).unwrap();
        std::fs::hard_link(&data, d.join("hard.xyz")).unwrap();
        for name in ["link.xyz", "hard.xyz"] {
            let e = resolve(&d.join(name), "--out", &inputs, Accept::Streams, true).unwrap_err();
            refused(e, &["--data"]);
        }
    }
    let e = resolve(
        &d.join("run/model/potential.json"),
        "--parquet",
        &inputs,
        Accept::Streams,
        true,
    )
    .unwrap_err();
    refused(e, &["--parquet", "a file of --run"]);
    assert_eq!(std::fs::read(&data).unwrap(), b"labels");
}

#[cfg(unix)]
#[test]
fn a_link_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("store")).unwrap();
    let target = d.join("store/out.xyz");
    std::fs::write(&target, b"old").unwrap();
    let link = d.join("out.xyz");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let o = resolve(&link, "--out", &Inputs::new(), Accept::Files, true).unwrap();
    o.write(|f| f.write_all(b"new")).unwrap();
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), b"new");
    // a link to nothing: refused, its target named
    let dangling = d.join("dangling.xyz");
    std::os::unix::fs::symlink(d.join("nowhere/x.xyz"), &dangling).unwrap();
    let e = resolve(&dangling, "--out", &Inputs::new(), Accept::Streams, true).unwrap_err();
    refused(e, &["symbolic link", "nowhere", "does not exist"]);
}

#[test]
fn a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let e = resolve(dir.path(), "--out", &Inputs::new(), Accept::Streams, true).unwrap_err();
    refused(e, &["a directory", "not a regular file"]);
}

#[cfg(unix)]
#[test]
fn fifos_and_devices_are_written_in_place_or_refused_never_renamed_over() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fifo = d.join("out.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        let e = resolve(&fifo, "--out", &Inputs::new(), Accept::Files, true).unwrap_err();
        refused(e, &["a FIFO", "a file read back later"]);
        let o = resolve(&fifo, "--out", &Inputs::new(), Accept::Streams, false).unwrap();
        assert!(matches!(o, Output::Stream { .. }), "{o:?}");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        o.write(|f| f.write_all(b"streamed")).unwrap();
        assert_eq!(reader.join().unwrap(), b"streamed");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        // the atomic writer refuses it too (never a rename over it)
        let e = write_atomic(&fifo, |f| f.write_all(b"x")).unwrap_err();
        assert!(e.to_string().contains("a FIFO"), "{e}");
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
    }
    // /dev/full's twin, made here: written in place, its error is the write's
    let full = d.join("full");
    if mknod(&full, 1, 7) {
        let o = resolve(&full, "--out", &Inputs::new(), Accept::Streams, false).unwrap();
        assert!(
            matches!(
                o,
                Output::Stream {
                    what: "a character device",
                    ..
                }
            ),
            "{o:?}"
        );
        let e = o.write(|f| f.write_all(b"predictions")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(28), "ENOSPC: {e}");
        let e = resolve(&full, "--out", &Inputs::new(), Accept::Files, true).unwrap_err();
        refused(e, &["a character device"]);
        let e = write_atomic(&full, |f| f.write_all(b"x")).unwrap_err();
        assert!(e.to_string().contains("a character device"), "{e}");
        assert!(
            std::fs::metadata(&full)
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
}

#[test]
fn two_outputs_of_one_command_differ() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.out");
    let a = Output::New(p.clone());
    let e = distinct((&a, "--out"), (&Output::New(p), "--parquet")).unwrap_err();
    refused(e, &["--out and --parquet name one file"]);
    let b = Output::New(dir.path().join("b.out"));
    distinct((&a, "--out"), (&b, "--parquet")).unwrap();
}

#[test]
fn appending_keeps_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.csv");
    let o = resolve(&p, "--csv", &Inputs::new(), Accept::Streams, true).unwrap();
    o.append(|f| f.write_all(b"a\n")).unwrap();
    let o = resolve(&p, "--csv", &Inputs::new(), Accept::Streams, true).unwrap();
    o.append(|f| f.write_all(b"b\n")).unwrap();
    assert_eq!(std::fs::read(&p).unwrap(), b"a\nb\n");
}
