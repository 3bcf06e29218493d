/* The right-hand contents ("On this page") follows the reader's position.
 *
 * pydata-sphinx-theme 0.17 highlights a section when its heading crosses the top 30 % of the
 * window, watched by an IntersectionObserver. A jump that carries a heading past that band
 * without stopping in it (Page Down, the space bar, dragging the scroll bar, a fling on a
 * touch pad, returning to a page half-way down) fires nothing, so in long chapters the
 * highlight stayed on an early section. Here every scroll settles it from the positions
 * themselves: the current section is the last one whose heading is above the band's lower
 * edge (the last one, at the very bottom of the page). The theme's own rule agrees whenever it
 * fires; its handling of clicks on the contents (which it highlights while the page scrolls)
 * is left alone for a second after a click.
 */
// This file loads in the page's head: wait for the contents and the headings.
document.addEventListener("DOMContentLoaded", () => {
  const nav = document.getElementById("pst-page-toc-nav");
  if (!nav) return;
  const links = Array.from(nav.querySelectorAll("a.nav-link")).filter((a) =>
    a.getAttribute("href").startsWith("#"),
  );
  const headings = links.map((link) => {
    const target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    return target && (target.querySelector("h1, h2, h3, h4, h5, h6") || target);
  });
  if (!links.length) return;

  const current = () => {
    const root = document.documentElement;
    if (window.scrollY + window.innerHeight >= root.scrollHeight - 2) {
      return links[links.length - 1];
    }
    const line = window.innerHeight * 0.3;
    let found = null;
    headings.forEach((heading, i) => {
      if (heading && heading.getBoundingClientRect().top <= line) found = links[i];
    });
    return found;
  };

  // The same classes and attribute as the theme's own highlighting.
  const activate = (link) => {
    links.forEach((a) => {
      a.classList.toggle("active", a === link);
      if (a === link) a.setAttribute("aria-current", "true");
      else a.removeAttribute("aria-current");
    });
    nav.querySelectorAll(".toc-entry").forEach((entry) => {
      entry.classList.toggle("active", Boolean(link) && entry.contains(link));
    });
  };

  let pausedUntil = 0;
  const pause = () => {
    pausedUntil = Date.now() + 1000;
  };
  window.addEventListener("hashchange", pause);
  document.addEventListener(
    "click",
    (event) => {
      const link = event.target.closest && event.target.closest("a[href*='#']");
      if (link && link.pathname === window.location.pathname) pause();
    },
    true,
  );

  let scheduled = false;
  window.addEventListener(
    "scroll",
    () => {
      if (scheduled) return;
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (Date.now() >= pausedUntil) activate(current());
      });
    },
    { passive: true },
  );
});
