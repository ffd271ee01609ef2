// The Node.js client class from the product brief, unchanged (only the export is added).
const axios = require('axios');

class MultiSessionClient {
  constructor(baseURL = 'http://localhost:8080') {
    this.api = axios.create({ baseURL: `${baseURL}/api/v1` });
  }

  async createSession(sessionId, config = {}) {
    const response = await this.api.post('/sessions', {
      sessionId,
      waitForQR: true,
      config: { multiDevice: true, headless: true, ...config }
    });
    return response.data;
  }

  async sendMessage(sessionId, chatId, content) {
    const response = await this.api.post(`/sessions/${sessionId}/send-text`, {
      chatId,
      content
    });
    return response.data;
  }

  async getSessionStatus(sessionId) {
    const response = await this.api.get(`/sessions/${sessionId}/status`);
    return response.data;
  }
}

module.exports = { MultiSessionClient };
