import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { CookieOptions, Request, Response } from 'express';
import { AppConfig } from '../core/config/app-config';
import { isUuid } from '../core/database/ids';
import { AppError } from '../core/errors';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { Public } from '../core/http/public.decorator';
import { fromWebPage } from '../core/http/request-hardening';
import { CodeRoute } from '../core/rate-limit/code-route.decorator';
import { clearSessionCookie, SESSION_COOKIE, sessionCookieOptions } from '../core/http/session-cookie';
import { MailLocale } from '../mail/otp-mail.template';
import { Auth, AuthContext, tokenFrom } from './auth-context';
import { AuthService } from './auth.service';
import { deviceName, locationFrom } from './device';
import { SendOtpDto, SendOtpResultDto, SessionDto, TerminatedManyDto, TerminatedOneDto, VerifyOtpDto, VerifyOtpResultDto } from './dto/auth.dto';
import { OtpService } from './otp.service';
import { DeviceInfo, SESSION_LIFETIME_MS, SessionsService } from './sessions.service';

@ApiTags('auth')
@Controller('api/auth')
export class AuthController {
  constructor(
    private readonly otp: OtpService,
    private readonly auth: AuthService,
    private readonly sessions: SessionsService,
    private readonly config: AppConfig,
  ) {}

  @Public()
  @CodeRoute()
  @Post('send-otp')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Mail a 6-digit code (valid 10 minutes; one send per 60 s per email)',
    description:
      'Per email, from any IP: at most OTP_SEND_LIMIT codes per window (OTP_SEND_LIMIT error), none while sign-in is locked (OTP_LOCKED). ' +
      'Both carry `retryAfter` (seconds) and `lockedUntil` (ISO time).',
  })
  @ApiEnvelope(SendOtpResultDto)
  @ApiErrors('VALIDATION_ERROR', 'DISPOSABLE_EMAIL', 'OTP_TOO_SOON', 'OTP_SEND_LIMIT', 'OTP_LOCKED', 'RATE_LIMIT', 'EMAIL_SEND_FAILED', { code: 'EMAIL_SEND_FAILED', status: 503 })
  sendOtp(@Body() body: SendOtpDto, @Req() request: Request): Promise<SendOtpResultDto> {
    return this.otp.send(body.email, preferredLocale(request));
  }

  @Public()
  @CodeRoute()
  @Post('verify-otp')
  @ApiOperation({
    summary: 'Check the code and sign in (200) or sign up with a nickname (201); sets the session cookie, and gives an app its token',
    description:
      'Wrong codes count per email, from any IP: the last of OTP_WRONG_CODE_LIMIT locks sign-in for that email until `lockedUntil` (OTP_LOCKED). ' +
      'A successful sign-in starts the count over. ' +
      'A request no web page sent (no `Origin`, `Sec-Fetch-Mode` or `X-Requested-With` header: a mobile app, a script) also gets the session token as `token`, ' +
      'for `Authorization: Bearer` and the socket\'s `auth` frame.',
  })
  @ApiEnvelope(VerifyOtpResultDto, { description: 'Signed in' })
  @ApiEnvelope(VerifyOtpResultDto, { status: 201, description: 'Account created and signed in' })
  @ApiErrors('VALIDATION_ERROR', 'OTP_EXPIRED', 'INVALID_CODE', 'OTP_MAX_ATTEMPTS', 'OTP_LOCKED', 'NICKNAME_REQUIRED', 'NICKNAME_TAKEN', 'RATE_LIMIT')
  async verifyOtp(@Body() body: VerifyOtpDto, @Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<VerifyOtpResultDto> {
    const { user, isNewUser, token } = await this.auth.verify(body, this.device(request));
    response.cookie(SESSION_COOKIE, token, { ...this.cookieOptions(), maxAge: SESSION_LIFETIME_MS });
    response.status(isNewUser ? 201 : 200);
    // An app without a cookie jar (the Android client) reads its token here; a page never gets
    // it in a body its scripts could read, only in the HttpOnly cookie.
    return fromWebPage(request) ? { user, isNewUser } : { user, isNewUser, token };
  }

  /** Answers 2xx even without a valid session: the web client would otherwise loop on logout. */
  @Public()
  @Post('logout')
  @HttpCode(200)
  @ApiOperation({ summary: 'End the current session and clear the cookie' })
  @ApiEnvelope(null)
  async logout(@Req() request: Request, @Res({ passthrough: true }) response: Response): Promise<null> {
    await this.sessions.endByToken(tokenFrom(request));
    clearSessionCookie(response, this.config.isProduction);
    return null;
  }

  @Get('sessions')
  @ApiCookieAuth()
  @ApiOperation({ summary: 'Active sessions of the current user, newest activity first' })
  @ApiEnvelope(SessionDto, { isArray: true })
  @ApiErrors('UNAUTHORIZED')
  listSessions(@Auth() auth: AuthContext): Promise<SessionDto[]> {
    return this.sessions.list(auth);
  }

  @Delete('sessions/:id')
  @ApiCookieAuth()
  @ApiOperation({ summary: 'Terminate one of your sessions; its sockets close with 4003' })
  @ApiEnvelope(TerminatedOneDto)
  @ApiErrors('UNAUTHORIZED', 'SESSION_NOT_FOUND')
  async terminate(@Auth() auth: AuthContext, @Param('id') id: string): Promise<TerminatedOneDto> {
    if (!isUuid(id)) throw new AppError('SESSION_NOT_FOUND');
    await this.sessions.terminate(auth, id);
    return { terminated: id };
  }

  @Delete('sessions')
  @ApiCookieAuth()
  @ApiOperation({ summary: 'Terminate every session except the current one' })
  @ApiEnvelope(TerminatedManyDto)
  @ApiErrors('UNAUTHORIZED')
  async terminateOthers(@Auth() auth: AuthContext): Promise<TerminatedManyDto> {
    return { terminated: await this.sessions.terminateOthers(auth) };
  }

  private device(request: Request): DeviceInfo {
    const userAgent = request.headers['user-agent'] ?? null;
    return {
      deviceName: deviceName(userAgent ?? undefined),
      userAgent: userAgent?.slice(0, 512) ?? null,
      ip: request.ip ?? null,
      location: locationFrom(request.headers, this.config.values.trustProxy > 0),
    };
  }

  private cookieOptions(): CookieOptions {
    return sessionCookieOptions(this.config.isProduction);
  }
}

function preferredLocale(request: Request): MailLocale | null {
  const language = request.headers['accept-language']?.slice(0, 2).toLowerCase();
  return language === 'ru' || language === 'en' ? language : null;
}
