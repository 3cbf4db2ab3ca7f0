//! A ConfigMap volume written exactly as the kubelet's AtomicWriter writes it: the payload in a
//! timestamped directory, a `..data` symlink to that directory, and each visible file a symlink
//! through `..data`. An update writes a new timestamped directory, points `..data_tmp` at it,
//! renames `..data_tmp` over `..data` (the atomic step), then deletes the old directory.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// One mounted ConfigMap with one key.
pub struct ConfigMapVolume {
    dir: PathBuf,
    key: String,
    current: PathBuf,
    generation: u32,
}

impl ConfigMapVolume {
    /// Creates the volume in `dir` (which must exist) with `key` holding `content`.
    pub fn new(dir: &Path, key: &str, content: &str) -> Self {
        let mut v = Self {
            dir: dir.to_path_buf(),
            key: key.to_string(),
            current: PathBuf::new(),
            generation: 0,
        };
        let payload = v.write_payload(content);
        symlink(payload.file_name().unwrap(), dir.join("..data")).unwrap();
        symlink(Path::new("..data").join(key), dir.join(key)).unwrap();
        v.current = payload;
        v
    }

    /// The path the proxy is given: `<dir>/<key>`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.key)
    }

    /// Swaps in new content the way the kubelet does.
    pub fn update(&mut self, content: &str) {
        let payload = self.write_payload(content);
        let tmp = self.dir.join("..data_tmp");
        symlink(payload.file_name().unwrap(), &tmp).unwrap();
        std::fs::rename(&tmp, self.dir.join("..data")).unwrap();
        std::fs::remove_dir_all(&self.current).unwrap();
        self.current = payload;
    }

    fn write_payload(&mut self, content: &str) -> PathBuf {
        self.generation += 1;
        let payload = self.dir.join(format!(
            "..2026_11_30_00_00_{:02}.{}",
            self.generation % 60,
            self.generation
        ));
        std::fs::create_dir(&payload).unwrap();
        std::fs::write(payload.join(&self.key), content).unwrap();
        payload
    }
}
