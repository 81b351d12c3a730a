//! One loop for every paginated call (GetApis, GetRoutes, GetAuthorizers,
//! GetIntegrations, GetStages):
//! follow `NextToken` until it is absent, within bounds. A server that
//! repeats a token, never stops, or returns more items than the bound is an
//! error of the API, never an endless loop or unbounded memory.

use std::collections::HashSet;
use std::future::Future;

use super::{ErrorKind, Failure};

/// How far one listing may go.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    /// The most items the listing may hold.
    pub(super) items: usize,
    /// What is listed, for messages: "routes".
    pub(super) noun: &'static str,
    /// The config key that sets `items`, for messages.
    pub(super) setting: &'static str,
    /// Items asked for per page.
    pub(super) page_size: u32,
}

impl Bounds {
    /// Pages the listing may take: the item bound over the page size, plus
    /// two (a last partial page, and an empty one some servers send).
    fn pages(self) -> usize {
        self.items / self.page_size.max(1) as usize + 2
    }
}

/// Every item of a listing: `page(token)` fetches one page and returns its
/// items and the next token.
pub(super) async fn all<T, F, Fut>(bounds: Bounds, mut page: F) -> Result<Vec<T>, Failure>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), Failure>>,
{
    let mut items = Vec::new();
    let mut token = None;
    let mut seen = HashSet::new();
    for _ in 0..bounds.pages() {
        let (mut got, next) = page(token.take()).await?;
        if items.len() + got.len() > bounds.items {
            return Err(Failure {
                kind: ErrorKind::Incomplete,
                message: format!(
                    "more than {} {} ({}); given up after {} {}",
                    bounds.items,
                    bounds.noun,
                    bounds.setting,
                    items.len() + got.len(),
                    bounds.noun,
                ),
            });
        }
        items.append(&mut got);
        match next_token(next, &mut seen)? {
            Some(next) => token = Some(next),
            None => return Ok(items),
        }
    }
    Err(Failure {
        kind: ErrorKind::Incomplete,
        message: format!(
            "pagination did not end after {} pages (bounded by {} over page_size)",
            bounds.pages(),
            bounds.setting
        ),
    })
}

/// The next page's token; a token seen before means the server loops.
fn next_token(
    token: Option<String>,
    seen: &mut HashSet<String>,
) -> Result<Option<String>, Failure> {
    match token.filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(token) if !seen.insert(token.clone()) => Err(Failure {
            kind: ErrorKind::MalformedResponse,
            message: format!("the server returned pagination token `{token}` a second time"),
        }),
        Some(token) => Ok(Some(token)),
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    const BOUNDS: Bounds = Bounds {
        items: 10,
        noun: "routes",
        setting: "max_routes_per_api",
        page_size: 3,
    };

    /// Serves `pages` (items, next token) in order, recording the tokens asked for.
    async fn serve(
        bounds: Bounds,
        pages: Vec<(Vec<u32>, Option<&str>)>,
    ) -> (Result<Vec<u32>, Failure>, Vec<Option<String>>) {
        let asked = RefCell::new(Vec::new());
        let pages = RefCell::new(pages.into_iter());
        let result = all(bounds, |token| {
            asked.borrow_mut().push(token);
            let page = pages.borrow_mut().next();
            async move {
                let (items, next) = page.expect("asked for a page the server does not have");
                Ok((items, next.map(str::to_owned)))
            }
        })
        .await;
        (result, asked.into_inner())
    }

    #[tokio::test]
    async fn every_page_is_read_once_with_the_token_of_the_one_before() {
        let (got, asked) = serve(
            BOUNDS,
            vec![
                (vec![1, 2, 3], Some("p2")),
                (vec![4, 5, 6], Some("p3")),
                (vec![7], None),
            ],
        )
        .await;
        assert_eq!(got.unwrap(), [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(asked, [None, Some("p2".into()), Some("p3".into())]);
        // An empty token ends the listing as an absent one does.
        let (got, _) = serve(BOUNDS, vec![(vec![1], Some(""))]).await;
        assert_eq!(got.unwrap(), [1]);
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_a_loop() {
        let (got, asked) = serve(
            BOUNDS,
            vec![
                (vec![1], Some("a")),
                (vec![2], Some("b")),
                (vec![3], Some("a")),
            ],
        )
        .await;
        let failure = got.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::MalformedResponse);
        assert!(failure.message.contains("`a` a second time"), "{failure:?}");
        assert_eq!(asked.len(), 3);
    }

    #[tokio::test]
    async fn more_items_than_the_bound_stop_the_listing() {
        let (got, asked) = serve(
            BOUNDS,
            vec![
                (vec![1, 2, 3], Some("p2")),
                (vec![4, 5, 6], Some("p3")),
                (vec![7, 8, 9], Some("p4")),
                (vec![10, 11, 12], Some("p5")),
            ],
        )
        .await;
        let failure = got.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Incomplete);
        assert_eq!(
            failure.message,
            "more than 10 routes (max_routes_per_api); given up after 12 routes"
        );
        assert_eq!(asked.len(), 4);
    }

    #[tokio::test]
    async fn a_listing_that_never_ends_stops_at_the_page_bound() {
        // Empty pages with fresh tokens: no item bound is reached.
        let tokens: Vec<String> = (0..100).map(|n| format!("t{n}")).collect();
        let pages = tokens.iter().map(|t| (vec![], Some(t.as_str()))).collect();
        let (got, asked) = serve(BOUNDS, pages).await;
        let failure = got.unwrap_err();
        assert_eq!(failure.kind, ErrorKind::Incomplete);
        assert!(failure.message.contains("after 5 pages"), "{failure:?}");
        assert_eq!(asked.len(), BOUNDS.pages());
    }
}
