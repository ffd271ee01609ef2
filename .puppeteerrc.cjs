// Never download a browser: the server uses the machine's Chromium or Chrome (see README).
module.exports = { skipDownload: true };
