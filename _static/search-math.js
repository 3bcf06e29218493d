/* Search results show their math typeset, not as raw LaTeX.
 *
 * Sphinx's search page (searchtools.js) cuts each result's snippet from the text of the page
 * it found, where MathJax has not run yet: "\(\hat m_t\)" and "\[ ... \]" came out as written.
 * Each snippet is handed to MathJax (book_site.py loads it on the search page): display math
 * becomes inline math, and math cut in two by the snippet's ends is left out ("…").
 */
// searchtools.js loads after this file; it searches once the page has loaded.
document.addEventListener("DOMContentLoaded", () => {
  if (typeof Search === "undefined" || !Search.makeSearchSummary) return;
  if (DOCUMENTATION_OPTIONS.pagename !== "search") return;

  const OPEN = "\\(";
  const CLOSE = "\\)";

  const wholeMathOnly = (text) => {
    let out = text.replaceAll("\\[", OPEN).replaceAll("\\]", CLOSE);
    const firstClose = out.indexOf(CLOSE);
    const firstOpen = out.indexOf(OPEN);
    if (firstClose !== -1 && (firstOpen === -1 || firstClose < firstOpen)) {
      out = "…" + out.slice(firstClose + CLOSE.length);
    }
    const lastOpen = out.lastIndexOf(OPEN);
    if (lastOpen !== -1 && lastOpen > out.lastIndexOf(CLOSE)) {
      out = out.slice(0, lastOpen) + "…";
    }
    // amsmath environments outside delimiters (myst's amsmath blocks) become inline too.
    return out.replace(/\\begin\{(align|equation|gather|multline)\*?\}[\s\S]*?\\end\{\1\*?\}/g,
                       (env) => OPEN + env.replace(/\\begin\{(\w+)\*?\}/, "\\begin{aligned}")
                                        .replace(/\\end\{(\w+)\*?\}/, "\\end{aligned}") + CLOSE);
  };

  const typeset = (element) => {
    const mathjax = window.MathJax;
    if (!mathjax || !mathjax.startup || !mathjax.startup.promise) return;
    mathjax.startup.promise
      .then(() => mathjax.typesetPromise([element]))
      .catch((error) => console.warn("MathJax could not typeset a search snippet:", error));
  };

  const makeSearchSummary = Search.makeSearchSummary;
  Search.makeSearchSummary = (htmlText, keywords, anchor) => {
    const summary = makeSearchSummary(htmlText, keywords, anchor);
    if (summary && summary.textContent.includes("\\")) {
      summary.textContent = wholeMathOnly(summary.textContent);
      summary.classList.add("mathjax_process");
      // After searchtools.js has highlighted the terms and put the snippet on the page.
      setTimeout(() => typeset(summary), 0);
    }
    return summary;
  };
});
