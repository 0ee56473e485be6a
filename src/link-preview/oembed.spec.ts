import { oembedRequestFor, previewFromOembed, youtubeVideoId } from './oembed';

describe('oEmbed for YouTube and Vimeo', () => {
  it.each([
    'https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42',
    'https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ',
    'https://m.youtube.com/watch?v=dQw4w9WgXcQ',
    'https://youtu.be/dQw4w9WgXcQ?si=abc',
    'https://www.youtube.com/shorts/dQw4w9WgXcQ',
    'https://www.youtube.com/embed/dQw4w9WgXcQ',
    'https://www.youtube.com/live/dQw4w9WgXcQ',
    'https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ',
  ])('finds the video id of %s', (url) => {
    expect(youtubeVideoId(new URL(url))).toBe('dQw4w9WgXcQ');
  });

  it.each(['https://www.youtube.com/', 'https://www.youtube.com/watch?v=short', 'https://www.youtube.com/@channel', 'https://notyoutube.com/watch?v=dQw4w9WgXcQ', 'https://youtu.be/'])(
    'finds no video in %s',
    (url) => {
      expect(youtubeVideoId(new URL(url))).toBeNull();
    },
  );

  it('asks the YouTube endpoint for the canonical watch URL in JSON', () => {
    const request = oembedRequestFor(new URL('https://youtu.be/dQw4w9WgXcQ?t=1'))!;
    expect(request.endpoint.origin + request.endpoint.pathname).toBe('https://www.youtube.com/oembed');
    expect(request.endpoint.searchParams.get('url')).toBe('https://www.youtube.com/watch?v=dQw4w9WgXcQ');
    expect(request.endpoint.searchParams.get('format')).toBe('json');
    expect(request.youtubeId).toBe('dQw4w9WgXcQ');
  });

  it('asks the Vimeo endpoint for video pages only', () => {
    const page = oembedRequestFor(new URL('https://vimeo.com/76979871'))!;
    expect(page.endpoint.origin + page.endpoint.pathname).toBe('https://vimeo.com/api/oembed.json');
    expect(page.endpoint.searchParams.get('url')).toBe('https://vimeo.com/76979871');
    expect(oembedRequestFor(new URL('https://player.vimeo.com/video/76979871?h=x'))!.endpoint.searchParams.get('url')).toBe('https://vimeo.com/76979871');
    expect(oembedRequestFor(new URL('https://vimeo.com/channels/staffpicks/76979871'))).not.toBeNull();
    expect(oembedRequestFor(new URL('https://vimeo.com/about'))).toBeNull();
    expect(oembedRequestFor(new URL('https://example.com/76979871'))).toBeNull();
  });

  it('previews a YouTube answer with the maxresdefault thumbnail and the channel as description', () => {
    const request = oembedRequestFor(new URL('https://www.youtube.com/watch?v=dQw4w9WgXcQ'))!;
    const answer = {
      title: 'Never Gonna Give You Up',
      author_name: 'Rick Astley',
      provider_name: 'YouTube',
      thumbnail_url: 'https://i.ytimg.com/vi/dQw4w9WgXcQ/hqdefault.jpg',
      type: 'video',
    };
    expect(previewFromOembed(request, answer)).toEqual({
      title: 'Never Gonna Give You Up',
      description: 'Rick Astley',
      image: 'https://i.ytimg.com/vi/dQw4w9WgXcQ/maxresdefault.jpg',
      siteName: 'YouTube',
    });
  });

  it('previews a Vimeo answer with its description and thumbnail', () => {
    const request = oembedRequestFor(new URL('https://vimeo.com/76979871'))!;
    const answer = { title: 'The New Vimeo Player', description: 'It may look…', author_name: 'Vimeo Staff', provider_name: 'Vimeo', thumbnail_url: 'https://i.vimeocdn.com/video/452001751-640.jpg' };
    expect(previewFromOembed(request, answer)).toEqual({
      title: 'The New Vimeo Player',
      description: 'It may look…',
      image: 'https://i.vimeocdn.com/video/452001751-640.jpg',
      siteName: 'Vimeo',
    });
  });

  it('refuses answers that are not oEmbed objects with a title', () => {
    const request = oembedRequestFor(new URL('https://vimeo.com/76979871'))!;
    for (const answer of [null, [], 'x', 42, {}, { title: '   ' }, { title: 7 }]) expect(previewFromOembed(request, answer)).toBeNull();
    expect(previewFromOembed(request, { title: 'T', thumbnail_url: 'file:///etc/passwd' })).toEqual({ title: 'T', description: null, image: null, siteName: 'Vimeo' });
  });
});
