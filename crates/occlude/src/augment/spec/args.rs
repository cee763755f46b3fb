//! `key=value` pairs of one method.

use super::FillSpec;
use crate::saliency::{BnStats, SaliencyMethod};
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;

/// `key=value` pairs of one method, consumed as they are read so that unknown keys
/// can be reported.
pub(super) struct Args {
    method: String,
    map: BTreeMap<String, String>,
    known: Vec<&'static str>,
}

impl Args {
    pub(super) fn parse(method: &str, args: &str) -> Result<Self> {
        let mut map = BTreeMap::new();
        for pair in args.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) =
                pair.split_once('=').with_context(|| format!("{method}: {pair:?} is not key=value, e.g. n=2"))?;
            let k = k.trim().to_lowercase().replace('-', "_");
            if map.insert(k.clone(), v.trim().to_string()).is_some() {
                bail!("{method}: {k} is given twice");
            }
        }
        Ok(Self { method: method.to_string(), map, known: Vec::new() })
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub(super) fn take(&mut self, key: &'static str) -> Option<String> {
        self.known.push(key);
        self.map.remove(key)
    }

    fn get<T: std::str::FromStr>(&mut self, key: &'static str, default: Option<T>, what: &str) -> Result<T> {
        match self.take(key) {
            Some(v) => v.parse::<T>().map_err(|_| anyhow::anyhow!("{}: {key} must be {what}, got {v:?}", self.method)),
            None => default.with_context(|| format!("{}: {key} is required", self.method)),
        }
    }

    pub(super) fn usize(&mut self, key: &'static str, default: Option<usize>) -> Result<usize> {
        self.get(key, default, "a non-negative integer")
    }

    pub(super) fn f64(&mut self, key: &'static str, default: Option<f64>) -> Result<f64> {
        let v: f64 = self.get(key, default, "a number")?;
        if !v.is_finite() {
            bail!("{}: {key} must be a finite number, got {v}", self.method);
        }
        Ok(v)
    }

    pub(super) fn u8(&mut self, key: &'static str, default: u8) -> Result<u8> {
        self.get(key, Some(default), "an 8-bit grey level 0..=255")
    }

    pub(super) fn fill(&mut self, key: &'static str, default: FillSpec) -> Result<FillSpec> {
        match self.take(key) {
            Some(v) => FillSpec::parse(&format!("{}: {key}", self.method), &v),
            None => Ok(default),
        }
    }

    pub(super) fn saliency(&mut self, default: &str) -> Result<SaliencyMethod> {
        let text = self.take("saliency").unwrap_or_else(|| default.to_string());
        SaliencyMethod::parse(&text).with_context(|| format!("{}: saliency", self.method))
    }

    /// An optional size: `None` when the key is absent (the default is resolved
    /// against the images).
    pub(super) fn opt_usize(&mut self, key: &'static str) -> Result<Option<usize>> {
        if self.has(key) {
            Ok(Some(self.usize(key, None)?))
        } else {
            self.known.push(key);
            Ok(None)
        }
    }

    /// `saliency_bn`: the batch-norm statistics of the saliency pass.
    pub(super) fn bn(&mut self) -> Result<BnStats> {
        match self.take("saliency_bn") {
            Some(v) => BnStats::parse(&v).with_context(|| format!("{}: saliency_bn", self.method)),
            None => Ok(BnStats::default()),
        }
    }

    pub(super) fn finish(self) -> Result<()> {
        if let Some(k) = self.map.keys().next() {
            bail!("{}: unknown key {k:?}; expected {}", self.method, self.known.join(", "));
        }
        Ok(())
    }
}
