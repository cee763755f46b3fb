//! The Market-1501 evaluation protocol (Zheng et al. 2015; Bag-of-Tricks /
//! open-reid `eval_func`): every query ranks the gallery by distance; gallery images
//! of the query's identity taken by the query's camera are removed from its list
//! (they are too easy), distractors (`0000`) stay as non-matches; a query with no
//! remaining match is not counted. Reported: the CMC curve (rank-k accuracy: the
//! share of queries with a match in the first k) and mAP (the mean over queries of
//! the average precision of the ranked list).

use anyhow::{bail, Result};

/// Identity and camera of every image of one side (query or gallery).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identities {
    pub pids: Vec<i32>,
    pub cameras: Vec<usize>,
}

/// CMC at ranks 1..=`cmc.len()` and mAP, over the `queries` counted.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking {
    pub cmc: Vec<f64>,
    pub map: f64,
    /// Queries with at least one match left after the exclusion.
    pub queries: usize,
}

impl Ranking {
    /// Rank-`k` accuracy (1-based).
    pub fn rank(&self, k: usize) -> f64 {
        self.cmc[(k.min(self.cmc.len())).max(1) - 1]
    }
}

/// The match list of one query: for the gallery sorted by ascending distance (ties
/// by gallery order), whether each remaining image has the query's identity, after
/// removing those with the query's identity *and* camera.
pub fn query_matches(distances: &[f32], pid: i32, camera: usize, gallery: &Identities) -> Vec<bool> {
    let mut order: Vec<usize> = (0..distances.len()).collect();
    order.sort_by(|&a, &b| distances[a].total_cmp(&distances[b]).then(a.cmp(&b)));
    order
        .into_iter()
        .filter(|&g| !(gallery.pids[g] == pid && gallery.cameras[g] == camera))
        .map(|g| gallery.pids[g] == pid)
        .collect()
}

/// Average precision of a ranked match list (the area under its precision–recall
/// curve as open-reid computes it): `(1/R) Σ_{k: match} precision@k`, R matches.
pub fn average_precision(matches: &[bool]) -> f64 {
    let mut hits = 0usize;
    let mut sum = 0.0;
    for (k, &m) in matches.iter().enumerate() {
        if m {
            hits += 1;
            sum += hits as f64 / (k + 1) as f64;
        }
    }
    if hits == 0 {
        0.0
    } else {
        sum / hits as f64
    }
}

/// The CMC indicator of a ranked match list up to `max_rank`: 1 from the first
/// match's rank on, 0 before.
pub fn cmc_indicator(matches: &[bool], max_rank: usize) -> Vec<f64> {
    let first = matches.iter().position(|&m| m);
    (0..max_rank).map(|r| first.is_some_and(|f| f <= r) as u8 as f64).collect()
}

/// CMC up to `max_rank` and mAP of the query × gallery `distances` (row-major).
pub fn evaluate_ranking(
    distances: &[f32],
    query: &Identities,
    gallery: &Identities,
    max_rank: usize,
) -> Result<Ranking> {
    let (nq, ng) = (query.pids.len(), gallery.pids.len());
    if distances.len() != nq * ng || query.cameras.len() != nq || gallery.cameras.len() != ng {
        bail!("ranking: {} distances for {nq} queries × {ng} gallery images", distances.len());
    }
    let mut cmc = vec![0.0; max_rank];
    let (mut ap_sum, mut counted) = (0.0, 0usize);
    for q in 0..nq {
        let matches = query_matches(&distances[q * ng..(q + 1) * ng], query.pids[q], query.cameras[q], gallery);
        if !matches.contains(&true) {
            continue;
        }
        counted += 1;
        ap_sum += average_precision(&matches);
        for (c, v) in cmc.iter_mut().zip(cmc_indicator(&matches, max_rank)) {
            *c += v;
        }
    }
    if counted == 0 {
        bail!("ranking: no query has a gallery match from another camera");
    }
    Ok(Ranking {
        cmc: cmc.into_iter().map(|c| c / counted as f64).collect(),
        map: ap_sum / counted as f64,
        queries: counted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmc_and_map_equal_hand_computed_values_with_the_same_camera_exclusion() {
        // Gallery: (pid, camera).
        let gallery = Identities { pids: vec![1, 1, 2, 0, 1, 2, 2], cameras: vec![0, 1, 1, 2, 2, 0, 2] };
        let query = Identities { pids: vec![1, 2, 3], cameras: vec![0, 2, 0] };
        #[rustfmt::skip]
        let d = [
            // Query 1 (pid 1, camera 0): order g0 .1, g2 .2, g3 .3, g1 .4, g5 .5, g4 .6, g6 .7.
            // g0 is pid 1 camera 0: excluded. List: g2 ✗, g3 ✗, g1 ✓, g5 ✗, g4 ✓, g6 ✗.
            // First match at rank 3; AP = (1/3 + 2/5) / 2 = 11/30.
            0.1, 0.4, 0.2, 0.3, 0.6, 0.5, 0.7,
            // Query 2 (pid 2, camera 2): order g6 .05, g2 .1, g4 .2, g5 .3, g0 .4, g1 .5, g3 .6.
            // g6 is pid 2 camera 2: excluded. List: g2 ✓, g4 ✗, g5 ✓, …: rank 1; AP = (1 + 2/3) / 2 = 5/6.
            0.4, 0.5, 0.1, 0.6, 0.2, 0.3, 0.05,
            // Query 3 (pid 3): no match in the gallery, not counted.
            0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1,
        ];
        let r = evaluate_ranking(&d, &query, &gallery, 5).unwrap();
        assert_eq!(r.queries, 2);
        let want_cmc = [0.5, 0.5, 1.0, 1.0, 1.0];
        assert!(r.cmc.iter().zip(want_cmc).all(|(a, b)| (a - b).abs() < 1e-12), "{:?}", r.cmc);
        assert!((r.map - (11.0 / 30.0 + 5.0 / 6.0) / 2.0).abs() < 1e-12, "{}", r.map);
        assert_eq!((r.rank(1), r.rank(5)), (0.5, 1.0));
        // Without the exclusion query 1 would match at rank 1 (g0): the protocol matters.
        let m = query_matches(&d[..7], 1, 3, &gallery);
        assert_eq!(cmc_indicator(&m, 1), vec![1.0]);
    }

    #[test]
    fn average_precision_by_hand() {
        assert_eq!(average_precision(&[true, false, true]), (1.0 + 2.0 / 3.0) / 2.0);
        assert_eq!(average_precision(&[false, false]), 0.0);
        assert_eq!(cmc_indicator(&[false, true, false], 3), vec![0.0, 1.0, 1.0]);
    }

    #[test]
    fn no_valid_query_is_an_error() {
        let g = Identities { pids: vec![1], cameras: vec![0] };
        let q = Identities { pids: vec![1], cameras: vec![0] };
        assert!(evaluate_ranking(&[0.1], &q, &g, 1).is_err());
    }
}
