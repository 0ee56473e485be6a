import { Parser } from 'htmlparser2';
import { cleanText, imageUrl, PreviewFields } from './preview-fields';

/** Keys read from `<meta property|name=…>`, in the order they are preferred for each field. */
const TITLE_KEYS = ['og:title', 'twitter:title'];
const DESCRIPTION_KEYS = ['og:description', 'twitter:description', 'description'];
const IMAGE_KEYS = ['og:image', 'og:image:url', 'og:image:secure_url', 'twitter:image', 'twitter:image:src'];
const SITE_NAME_KEYS = ['og:site_name', 'application-name'];

/**
 * Reads the preview fields of an HTML page as it streams in: Open Graph, then Twitter card tags,
 * then `<title>` and `<meta name=description>`. htmlparser2 does the tokenising (entities,
 * attribute quoting, raw-text elements, broken markup). Everything a preview needs is in
 * `<head>`, so `done` turns true at `</head>` or `<body>` and the caller can stop downloading.
 */
export class PageMetadataCollector {
  private readonly meta = new Map<string, string>();
  private readonly parser: Parser;
  private title: string | null = null;
  private titleText: string | null = null;
  private base: string | null = null;
  /** `<title>` inside an inline `<svg>` names the drawing, not the page. */
  private svgDepth = 0;
  private finished = false;

  constructor() {
    this.parser = new Parser(
      {
        onopentag: (name, attributes) => this.openTag(name, attributes),
        ontext: (text) => {
          if (this.titleText !== null) this.titleText += text;
        },
        onclosetag: (name) => this.closeTag(name),
      },
      { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
    );
  }

  /** True once the document head is over: nothing later is read. */
  get done(): boolean {
    return this.finished;
  }

  write(html: string): void {
    if (!this.finished) this.parser.write(html);
  }

  end(): void {
    this.parser.end();
    this.finished = true;
  }

  /** The fields found, with relative image URLs resolved against `<base href>` or the page's own URL. */
  fields(pageUrl: URL): PreviewFields {
    const first = (keys: string[]) => keys.map((key) => this.meta.get(key)).find((value) => value !== undefined && value.trim() !== '');
    let base: URL | string = pageUrl;
    if (this.base) {
      try {
        base = new URL(this.base, pageUrl);
      } catch {
        base = pageUrl;
      }
    }
    return {
      title: cleanText(first(TITLE_KEYS) ?? this.title, 'title'),
      description: cleanText(first(DESCRIPTION_KEYS), 'description'),
      image: imageUrl(first(IMAGE_KEYS), base),
      siteName: cleanText(first(SITE_NAME_KEYS), 'siteName'),
    };
  }

  private openTag(name: string, attributes: Record<string, string>): void {
    if (this.finished) return;
    switch (name) {
      case 'meta': {
        const content = attributes.content;
        if (content === undefined) return;
        // Sites write Open Graph as property=, Twitter as name=, and some both ways round.
        for (const key of [attributes.property, attributes.name]) {
          const normalised = key?.trim().toLowerCase();
          if (normalised && !this.meta.has(normalised)) this.meta.set(normalised, content);
        }
        return;
      }
      case 'title':
        if (this.svgDepth === 0 && this.title === null) this.titleText = '';
        return;
      case 'svg':
        this.svgDepth++;
        return;
      case 'base':
        if (this.base === null && attributes.href) this.base = attributes.href;
        return;
      case 'body':
        this.finished = true;
        return;
    }
  }

  private closeTag(name: string): void {
    if (name === 'title' && this.titleText !== null) {
      this.title = this.titleText;
      this.titleText = null;
    } else if (name === 'svg' && this.svgDepth > 0) {
      this.svgDepth--;
    } else if (name === 'head') {
      this.finished = true;
    }
  }
}
