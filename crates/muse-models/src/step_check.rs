//! The checks every decoder makes before a batched decode step touches any cache, so a rejected
//! step leaves all of them unchanged.

use crate::error::ModelError;

/// One token per cache, every token inside the vocabulary, and room for one more position in
/// each cache (`lens` are the positions the caches hold).
pub(crate) fn check_batch_step(
    tokens: &[u32],
    lens: &[usize],
    vocab: usize,
    context: usize,
) -> Result<(), ModelError> {
    if tokens.len() != lens.len() {
        return Err(ModelError::Config(format!(
            "a batch of {} tokens for {} caches",
            tokens.len(),
            lens.len()
        )));
    }
    if let Some(&id) = tokens.iter().find(|&&t| t as usize >= vocab) {
        return Err(ModelError::TokenOutOfRange { id, vocab });
    }
    if let Some(&len) = lens.iter().find(|&&len| len + 1 > context) {
        return Err(ModelError::ContextOverflow {
            tokens: len + 1,
            context,
        });
    }
    Ok(())
}
