//! The example `own_model` (a model of the user's own, trained with occlude's
//! KeepCutout and Hide-and-Seek from its own loop) runs: one step.

#[path = "../examples/own_model.rs"]
mod own_model;

#[test]
fn a_model_of_ones_own_trains_with_keep_cutout_and_hide_and_seek() {
    let steps = own_model::train(1).unwrap();
    assert_eq!(steps.len(), 1);
    let (s, loss, [cut, hidden]) = (&steps[0], steps[0].0, steps[0].1);
    assert!(loss.is_finite() && loss > 0.0, "{s:?}");
    // 64 images: KeepCutout erases a 14×14 square (clipped at the border) in each,
    // Hide-and-Seek about half of the 16 cells of 7×7.
    assert!(cut > 64 * 20 && cut <= 64 * 14 * 14, "{s:?}");
    assert!(hidden > 64 * 49 && hidden < 64 * 28 * 28, "{s:?}");
}
