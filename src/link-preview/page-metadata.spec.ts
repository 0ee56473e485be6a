import { PageMetadataCollector } from './page-metadata';

const page = new URL('https://news.example/articles/1?x=1');

function parse(html: string, chunk = html.length): PageMetadataCollector {
  const collector = new PageMetadataCollector();
  for (let i = 0; i < html.length && !collector.done; i += chunk) collector.write(html.slice(i, i + chunk));
  collector.end();
  return collector;
}

describe('PageMetadataCollector', () => {
  it('prefers Open Graph, then Twitter cards, then <title> and <meta name=description>', () => {
    const html = `<!doctype html><html><head>
      <title>Plain title</title>
      <meta name="description" content="Plain description">
      <meta name="twitter:title" content="Twitter title">
      <meta name="twitter:image" content="/tw.png">
      <meta property="og:title" content="OG &amp; title">
      <meta property="og:image" content="https://cdn.example/og.jpg">
      <meta property="og:site_name" content="Example News">
    </head><body><p>text</p></body></html>`;
    expect(parse(html).fields(page)).toEqual({
      title: 'OG & title',
      description: 'Plain description',
      image: 'https://cdn.example/og.jpg',
      siteName: 'Example News',
    });
  });

  it('falls back to Twitter tags, resolving a relative image against the page or <base href>', () => {
    expect(parse('<head><meta name="twitter:title" content="T"><meta name="twitter:description" content="D"><meta name="twitter:image" content="img/a.png"></head>').fields(page)).toEqual({
      title: 'T',
      description: 'D',
      image: 'https://news.example/articles/img/a.png',
      siteName: null,
    });
    expect(parse('<head><base href="https://static.example/x/"><meta property="og:image" content="b.png"></head>').fields(page).image).toBe('https://static.example/x/b.png');
  });

  it('reads a page with only <title>, decoding entities and collapsing whitespace, also when fed in small chunks', () => {
    const html = '<html><head><TITLE>\n  Caf&eacute;   &lt;menu&gt;\n</TITLE></head><body></body></html>';
    expect(parse(html, 3).fields(page)).toEqual({ title: 'Café <menu>', description: null, image: null, siteName: null });
  });

  it('ignores an SVG <title>, tags after the head, and images that are not http(s)', () => {
    const html = '<head><svg><title>icon</title></svg><meta property="og:image" content="javascript:alert(1)"></head><body><title>late</title><meta property="og:title" content="late"></body>';
    const collector = parse(html);
    expect(collector.done).toBe(true);
    expect(collector.fields(page)).toEqual({ title: null, description: null, image: null, siteName: null });
  });

  it('stops at <body> or </head>, so the caller can close the connection', () => {
    const collector = new PageMetadataCollector();
    collector.write('<html><head><title>x</title>');
    expect(collector.done).toBe(false);
    collector.write('</head>');
    expect(collector.done).toBe(true);
  });

  it('survives broken markup and keeps lengths bounded', () => {
    const long = 'word '.repeat(2000);
    const fields = parse(`<head><meta property="og:title" content="${long}"><meta property=og:description content=unquoted><title>never closed`).fields(page);
    expect([...fields.title!].length).toBe(300);
    expect(fields.title!.endsWith('…')).toBe(true);
    expect(fields.description).toBe('unquoted');
  });
});
