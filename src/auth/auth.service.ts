import { Injectable } from '@nestjs/common';
import { AppError } from '../core/errors';
import { UserDto, toUserDto } from '../users/dto/user.dto';
import { UsersService } from '../users/users.service';
import { VerifyOtpDto } from './dto/auth.dto';
import { OtpService } from './otp.service';
import { DeviceInfo, SessionsService } from './sessions.service';

export interface SignIn {
  user: UserDto;
  isNewUser: boolean;
  token: string;
}

/** The sign-in flow: code check, account creation for a new email, and a session for the device. */
@Injectable()
export class AuthService {
  constructor(
    private readonly otp: OtpService,
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
  ) {}

  async verify(input: VerifyOtpDto, device: DeviceInfo): Promise<SignIn> {
    if (!input.code && !input.verifyToken) throw new AppError('VALIDATION_ERROR', undefined, { errors: { code: ['code is required'] } });
    // Errors that must not roll back the attempt counter are returned, then thrown after commit.
    const result = await this.otp.transaction(async (tx): Promise<SignIn | AppError> => {
      const check = await this.otp.check(tx, input.email, input);
      if (!check.ok) return check.error;

      // Share-locked: an account deletion racing this sign-in either finishes first (the email is
      // then a new user's) or waits for the session, and ends it with the account.
      let user = await this.users.findByEmail(input.email, tx, { share: true });
      const isNewUser = !user;
      if (!user) {
        if (!input.nickname) {
          const verifyToken = await this.otp.issueVerifyToken(tx, input.email);
          return new AppError('NICKNAME_REQUIRED', undefined, { verifyToken });
        }
        await this.users.assertNicknameFree(input.nickname, undefined, tx);
        user = await this.users.create(tx, input.email, input.nickname);
      }
      await this.otp.consume(tx, input.email);
      const token = await this.sessions.create(tx, user.id, device);
      return { user: toUserDto(user, { isOnline: true, lastOnline: user.lastOnlineAt }, { withEmail: true }), isNewUser, token };
    });
    if (result instanceof AppError) throw result;
    return result;
  }
}
